--[[
  The task layer's records, shared by the task scripts (scripts/tasks/*.lua). A task is
  an item of its task queue whose item id is its task id; beside the queue:

  KEYS[26] tasks    hash: task id -> record, from the task's enqueue until a while after
                    it finished (no per-field expiry: see the expiry lists)
  KEYS[27] metrics  hash: per task name, "<name>|started", "|done", "|failed", "|retried",
                    and the run-time histogram "|le|<ms bound>", "|runs", "|ms"
  KEYS[28] expiry   list: "<expires at>|<task id>,<task id>,..." of final records, one
                    entry per call and expiry time, in the order they became final; the
                    scripts that finish tasks trim its head, a slice per call (records
                    kept for different lengths can sit behind a longer one for a while:
                    reads treat an expired record as gone meanwhile)
  KEYS[29] failures list: the latest failed runs, oldest first, at most FAILURES_KEPT,
                    one JSON object each: { t = task name, i = task id, m = item id,
                    e = error (cut to FAILURE_ERROR_BYTES bytes), a = the run that
                    failed, f = 1 failed for good / 0 to be retried, at = store time }
  {prefix:queue}:result:<id>  string (PX): a saved result's JSON, a KEY where it is used

  Record: "<state>|<attempt>|<at>|<x>|<name bytes>|<name><error>"; attempt counts the
  runs started, at is when it last changed (ms, hexadecimal), error is the last failure's
  message. state:
    q queued, d delayed, s started (x: the lease of the delivery that started the run):
      the task's item is in the queue;
    D done, V done with a saved result, F failed, C cancelled (x: when the record
      expires, ms): final. A cancelled task's item stays in the queue until a claim
      discards it; until then its x is "k<ms to keep it>" and it never expires, so that
      the item is discarded, not run. The other final states have no item left (but a
      failed task's dead letter, which a redrive brings back: its first delivery starts
      it afresh).
  A final record whose time has passed is as good as gone: reads say so, and the trim
  deletes it.

  Specs (ARGV, see read_specs): per registered task of the queue, its name, the runs it
  allows, its visibility timeout in ms (0: at most once), '1' to dead-letter it when its
  runs are spent, how long to keep its finished record (ms), how long to keep its result
  (ms), and its retry delay (ms).
]]

local T = { tasks = KEYS[26], metrics = KEYS[27], expiry = KEYS[28], failures = KEYS[29] }
local STATE_NAMES = {
  q = 'queued', d = 'delayed', s = 'started', D = 'done', V = 'done', F = 'failed', C = 'cancelled',
}
local FINAL = { D = true, V = true, F = true, C = true }
local DIED = 'the worker running the last attempt stopped before it finished'
-- upper bounds (ms) of the run-time histogram's buckets; above the last is +Inf (tasks/metrics.ts)
local BUCKETS = { 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000 }
-- expiry entries a call trims beyond those it adds itself (its first slice; see trim_expired)
local TRIM_SLICE = 4
-- ... and further slices while they hold fewer records than this, up to this many entries
local TRIM_IDS, TRIM_ENTRIES = 100, 64
-- failed runs kept per queue, and the longest error text one keeps (tasks/records.ts)
local FAILURES_KEPT = 50
local FAILURE_ERROR_BYTES = 1000

-- The time every record a script writes gets, as text (see set_now), and the tail
-- "<bytes>|<name>" of a record per task name: formatting numbers is what a record's text
-- costs most, and a record is rewritten with its tail as it is.
local now_text
local tails = {}
-- Per call memos: converting between numbers and text costs Lua a strtod or a sprintf
-- (1.5 to 3 k instructions), a table lookup a tenth of that, and a batch's tasks share
-- few distinct attempts and run times. Task names by a record's rest, likewise.
local numbers, texts, names = {}, {}, {}

-- `s` (decimal text) as a number.
local function num(s)
  local n = numbers[s]
  if not n then
    n = tonumber(s)
    numbers[s] = n
  end
  return n
end

-- The integer `n` as decimal text.
local function text_of(n)
  local s = texts[n]
  if not s then
    s = string.format('%d', n)
    texts[n] = s
  end
  return s
end

-- Sets the script's time for encode_record: ms in hexadecimal (11 digits until 2527),
-- which one string.format makes (base 36 would save 3 bytes a record and cost ten times
-- the instructions, a tenth of a one-task call).
local function set_now(now)
  now_text = string.format('%x', now)
end

local function encode_record(r)
  return r.state .. '|' .. text_of(r.attempt) .. '|' .. now_text .. '|' .. r.x .. '|' .. r.rest
end

-- A record's fields, or nil: state letter, attempt, x (a lease, or an expiry in ms, as
-- text) and rest, the text after x ("<name bytes>|<name><error>"), kept as it is. Plain
-- finds: a pattern with captures costs several times as much.
local function decode_record(text)
  if not text then return nil end
  local find, sub = string.find, string.sub
  local p2 = find(text, '|', 3, true)
  local p3 = find(text, '|', p2 + 1, true)
  local p4 = find(text, '|', p3 + 1, true)
  return { state = sub(text, 1, 1), attempt = num(sub(text, 3, p2 - 1)), x = sub(text, p3 + 1, p4 - 1), rest = sub(text, p4 + 1) }
end

-- A new record of the task `name`, with an error text (or '').
local function new_record(state, attempt, x, name, err)
  local tail = tails[name]
  if not tail then
    tail = int_str(#name) .. '|' .. name
    tails[name] = tail
  end
  return { state = state, attempt = attempt, x = x, rest = tail .. err, name = name }
end

-- The task name in a record's rest ("<name bytes>|<name><error>"), read once per
-- distinct rest and call.
local function name_of_rest(rest)
  local name = names[rest]
  if not name then
    local len, pos = string.match(rest, '^(%d+)|()')
    name = string.sub(rest, pos, pos + len - 1)
    names[rest] = name
  end
  return name
end

-- The task name of a record.
local function record_name(r)
  local name = r.name
  if not name then
    name = name_of_rest(r.rest)
    r.name = name
  end
  return name
end

-- Sets a record's error text (its last failure's message).
local function set_error(r, err)
  local len, pos = string.match(r.rest, '^(%d+)|()')
  r.rest = string.sub(r.rest, 1, pos + len - 1) .. err
end

-- Whether a final record's time has passed: it counts as gone. (A cancelled record whose
-- item waits to be discarded says "k<ms>" instead of a time: it never expires.)
local function is_expired(record, now)
  local at = FINAL[record.state] and tonumber(record.x)
  return at ~= nil and at <= now
end

-- The specs in ARGV from `pos`: <count>, then 7 fields each. Returns them by name, and
-- the position after them.
local function read_specs(pos)
  local specs = {}
  for _ = 1, tonumber(ARGV[pos]) do
    specs[ARGV[pos + 1]] = {
      attempts = tonumber(ARGV[pos + 2]), vis_ms = tonumber(ARGV[pos + 3]), use_dead = ARGV[pos + 4] == '1',
      keep_ms = tonumber(ARGV[pos + 5]), result_ms = ARGV[pos + 6], retry_ms = tonumber(ARGV[pos + 7]),
    }
    pos = pos + 7
  end
  return specs, pos + 1
end

-- Whether starting `record` under `lease` finds its runs spent: an earlier delivery
-- started a run that never ended (its worker died or hung past its lease), and it was
-- the last run allowed, or the task runs at most once.
local function is_spent(record, lease, spec)
  -- (a record started under another lease than this one)
  return record.state == 's' and record.x ~= lease and (spec.vis_ms == 0 or record.attempt >= spec.attempts)
end

-- One script's task events, metrics and newly final records, written once at its end.
local function new_log()
  return { events = {}, metrics = {}, expiring = {}, expiring_order = {}, failures = {} }
end

-- A task event: consecutive events of one state share a line "<state> <id>,<id>,...",
-- in order, so that a batch makes a few lines, not one string per task.
local function log_event(log, task_id, state)
  local events = log.events
  local last = events[#events]
  if not last or last.state ~= state then
    last = { state = state, ids = {} }
    events[#events + 1] = last
  end
  last.ids[#last.ids + 1] = task_id
end

-- A run that failed (final: the task failed for good), for the latest failures.
local function log_failure(log, name, task_id, err, attempt, final, now)
  log.failures[#log.failures + 1] = cjson.encode({
    t = name, i = task_id, m = task_id, e = string.sub(err, 1, FAILURE_ERROR_BYTES),
    a = attempt, f = final and 1 or 0, at = now,
  })
end

-- Records that a task moved to `state` (full name), counting it as the metrics do:
-- starts, dones, failures for good, retries (a failed run requeued), and the run's time.
-- The metrics a script counts for the task `name`.
local function metrics_of(log, name)
  local m = log.metrics[name]
  if not m then
    m = { started = 0, done = 0, failed = 0, retried = 0, runs = 0, ms = 0, le = {} }
    log.metrics[name] = m
  end
  return m
end

-- The histogram bucket of a run time in ms (the run time as text, memoised).
local buckets_of = {}
local function bucket_of(run_ms)
  local bucket = buckets_of[run_ms]
  if not bucket then
    bucket = 'inf'
    for _, bound in ipairs(BUCKETS) do
      if run_ms <= bound then
        bucket = bound
        break
      end
    end
    buckets_of[run_ms] = bucket
  end
  return bucket
end

-- Counts a run that ended in the metrics `m`, its run time in whole ms.
local function log_run(m, run_ms)
  local bucket = bucket_of(run_ms)
  m.le[bucket] = (m.le[bucket] or 0) + 1
  m.runs = m.runs + 1
  m.ms = m.ms + run_ms
end

local function log_change(log, task_id, state, name, failed_run, run_ms)
  log_event(log, task_id, state)
  local m = metrics_of(log, name)
  if state == 'started' then
    m.started = m.started + 1
  elseif state == 'done' or state == 'failed' then
    m[state] = m[state] + 1
  elseif failed_run then
    m.retried = m.retried + 1
  end
  if state ~= 'started' and state ~= 'cancelled' and run_ms >= 0 then log_run(m, run_ms) end
end

-- A record that became final, to list for expiry; `expires_at` is text. The records of
-- one call that expire together are listed as one entry.
local function log_expiry(log, expires_at, task_id)
  local ids = log.expiring[expires_at]
  if not ids then
    ids = {}
    log.expiring[expires_at] = ids
    log.expiring_order[#log.expiring_order + 1] = expires_at
  end
  ids[#ids + 1] = task_id
end

-- Deletes final records whose time has passed, listed in the head of the expiry list
-- (entries "<expires at>|<id>,<id>,..."): `limit` entries, and more while they hold fewer
-- than TRIM_IDS records together, so that calls that finish one task each keep up with
-- calls that finished many, without one call's work growing past a slice of the list. A
-- record that is not final any more, or final again since (a redriven task that failed
-- again), is kept.
local function trim_expired(now, limit)
  -- the head alone tells whether there is anything to do, the usual answer being no
  local first = redis.call('LRANGE', T.expiry, 0, 0)[1]
  if not first or tonumber(string.match(first, '^(%d+)')) > now then return end
  local ids, n = {}, 0
  repeat
    local head = redis.call('LRANGE', T.expiry, n, n + limit - 1)
    local more = #head == limit
    for _, entry in ipairs(head) do
      local expires_at, list = string.match(entry, '^(%d+)|(.*)$')
      if tonumber(expires_at) > now then
        more = false
        break
      end
      n = n + 1
      for id in string.gmatch(list, '[^,]+') do ids[#ids + 1] = id end
    end
  until not more or #ids >= TRIM_IDS or n >= TRIM_ENTRIES
  if n == 0 then return end
  local gone = {}
  for i = 1, #ids, 1000 do
    local slice = { unpack(ids, i, math.min(i + 999, #ids)) }
    local records = redis.call('HMGET', T.tasks, unpack(slice))
    for j, id in ipairs(slice) do
      local record = decode_record(records[j])
      if record and is_expired(record, now) then gone[#gone + 1] = id end
    end
  end
  if #gone > 0 then chunked('HDEL', T.tasks, gone, 1) end
  redis.call('LTRIM', T.expiry, n, -1)
end

local function flush_log(log, channel, now)
  for name, m in pairs(log.metrics) do
    for _, field in ipairs({ 'started', 'done', 'failed', 'retried', 'runs', 'ms' }) do
      if m[field] ~= 0 then
        redis.call('HINCRBY', T.metrics, name .. '|' .. field, m[field])
      end
    end
    for bucket, n in pairs(m.le) do redis.call('HINCRBY', T.metrics, name .. '|le|' .. bucket, n) end
  end
  if #log.expiring_order > 0 then
    local entries = {}
    for i, expires_at in ipairs(log.expiring_order) do
      entries[i] = expires_at .. '|' .. table.concat(log.expiring[expires_at], ',')
    end
    redis.call('RPUSH', T.expiry, unpack(entries))
    trim_expired(now, #entries + TRIM_SLICE)
  end
  if #log.failures > 0 then
    -- only the newest FAILURES_KEPT can survive the trim: push no more
    local newest = {}
    for i = math.max(1, #log.failures - FAILURES_KEPT + 1), #log.failures do newest[#newest + 1] = log.failures[i] end
    redis.call('RPUSH', T.failures, unpack(newest))
    redis.call('LTRIM', T.failures, -FAILURES_KEPT, -1)
  end
  if #log.events > 0 then
    local lines = {}
    for i, run in ipairs(log.events) do lines[i] = run.state .. ' ' .. table.concat(run.ids, ',') end
    redis.call('PUBLISH', channel, table.concat(lines, '\n'))
  end
end

-- Lease groups (see read_groups) of a list of whole leases "<id>:<entry>".
local function lease_groups(leases)
  local by_entry, groups = {}, {}
  for _, lease in ipairs(leases) do
    local entry = string.match(lease, ':(%d+)$')
    local g = by_entry[entry]
    if not g then
      g = { entry = entry, leases = {} }
      by_entry[entry] = g
      groups[#groups + 1] = g
    end
    g.leases[#g.leases + 1] = lease
  end
  return groups
end
