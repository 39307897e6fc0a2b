--[[
  tasks/settle: applies the settle ops of one queue's task runs in one atomic step: the
  record change and the item's settlement of each op go together (a done with its saved
  result, a retry, a failure with its dead letter), and fetched tasks are started.

  KEYS     the 20 queue keys (see lib/queue.lua), the tasks hash (21), the metrics hash
           (22), the expiry list (23), the failures list (24) (see lib/tasks.lua), then the
           result keys of the dones with a result to save
  ARGV[1]  clock (test hook, "0" in production; see lib/clock.lua)
  ARGV[2]  pub/sub channel of the queue's task events
  ARGV[3..] the queue's task specs (see lib/tasks.lua read_specs), then the ops grouped by
           the entry of their deliveries' leases ("<task id>:<entry>"): <group count>, then
           per group <entry> <op count> and its ops, each a kind letter, the task id and:
             S start    '1' if it is the item's first delivery, the task name
             D done     the run ms, the KEYS index of its result key (0: no result), then
                        the result JSON when there is one
             R retry    the attempt, the run ms, the error
             F fail     the attempt, the run ms (-1: no run ended here), the error
             X discard  -
             Z dead     - (an item that is no task: to the dead letters whatever)
             H handBack '1' to take back the start this lease made, the delay ms
  Returns { outcomes, attempts }: outcomes one letter per op, in order: s started, r
  requeued, y delayed (a retry), d done, f failed, g failed and dead-lettered, a applied
  (a discard or hand-back of a live delivery), - nothing changed; attempts the run number
  of each s, f and g outcome of a start or fail op, comma-separated, in order.

  Per op, as in stores/memory/task-store.ts:
    S  a live delivery only. From q/d, or s by another lease (its worker died or hung)
       with runs left: s under this lease, one more run. From s under this lease:
       acknowledged (the same start sent again). Spent (s by another lease, its last
       run, or at most once): F, item dead-lettered or dropped. From a final record:
       the item is finished without a run (but F at the item's first delivery, a
       redriven dead letter, and no record at all: a fresh start).
    D  the record becomes D (V with a saved result) from any state but a final one: a
       finished run is never thrown away; the item is finished.
    R  from s by the same run: q (or d with the spec's retry delay) with the error; the
       item is visible again after the delay, the delivery counted.
    F  from s (or q/d) by the same run: failed for good; the item is dead-lettered (the
       spec's useDead) or dropped, in this step.
    X  the item is finished without a run.
    Z  the item goes to the dead letters.
    H  the item is visible again after the delay, no delivery used; with the flag, a
       start under this lease is taken back (q, one run less).
  An op whose record change is not allowed still settles its item when that cannot lose
  a run: a task final elsewhere has its item finished.
]]
--@include queue
--@include ops
--@include tasks

local now = now_ms(ARGV[1])
set_now(now)
local channel = ARGV[2]
local specs, pos = read_specs(3)

-- ops: a table each (the fields of its kind), with its lease; groups as read_groups makes them
local ops, task_ids, groups = {}, {}, {}
local group_count = tonumber(ARGV[pos])
pos = pos + 1
for _ = 1, group_count do
  local entry, n = ARGV[pos], tonumber(ARGV[pos + 1])
  local leases = {}
  pos = pos + 2
  for _ = 1, n do
    local kind, id = ARGV[pos], ARGV[pos + 1]
    local op = { kind = kind, id = id, lease = id .. ':' .. entry }
    if kind == 'S' then
      op.first, op.name = ARGV[pos + 2] == '1', ARGV[pos + 3]
      pos = pos + 4
    elseif kind == 'D' then
      op.run_ms = tonumber(ARGV[pos + 2])
      local result_key = tonumber(ARGV[pos + 3])
      if result_key > 0 then
        op.result_key, op.result = KEYS[result_key], ARGV[pos + 4]
        pos = pos + 5
      else
        pos = pos + 4
      end
    elseif kind == 'R' or kind == 'F' then
      op.attempt, op.run_ms, op.err = tonumber(ARGV[pos + 2]), tonumber(ARGV[pos + 3]), ARGV[pos + 4]
      pos = pos + 5
    elseif kind == 'H' then
      op.unstart, op.delay = ARGV[pos + 2] == '1', tonumber(ARGV[pos + 3])
      pos = pos + 4
    else
      pos = pos + 2
    end
    ops[#ops + 1] = op
    task_ids[#ops] = id
    leases[#leases + 1] = op.lease
  end
  groups[#groups + 1] = { entry = entry, leases = leases }
end

local by_owner, _, live = live_by_owner(Q, groups, now)
local owner_of = {}
for owner, owned in pairs(by_owner) do
  for _, lease in ipairs(owned) do owner_of[lease] = owner end
end
local stored = redis.call('HMGET', T.tasks, unpack(task_ids))
local records = {} -- task id -> its record (false: none), as this script changes it
for i, op in ipairs(ops) do
  if records[op.id] == nil then records[op.id] = decode_record(stored[i]) or false end
end

local log = new_log()
local changed, changed_order = {}, {}
local function set_record(id, record)
  records[id] = record
  if not changed[id] then
    changed[id] = true
    changed_order[#changed_order + 1] = id
  end
end

-- the items' settlements, gathered so that each kind is one call
local finish, releases = {}, {}
local function release(mode, delay, dead, lease)
  local key = mode .. '|' .. delay .. '|' .. (dead and '1' or '0')
  local group = releases[key]
  if not group then
    group = { mode = mode, delay = delay, dead = dead, leases = {} }
    releases[key] = group
  end
  group.leases[#group.leases + 1] = lease
end

-- The record becomes final (D, V, F) for the spec's time.
local expiry_text = {}
local function finalize(op, record, state, spec)
  local keep = spec and spec.keep_ms or 0
  local expires_at = expiry_text[keep]
  if not expires_at then
    expires_at = int_str(now + keep)
    expiry_text[keep] = expires_at
  end
  record.state, record.x = state, expires_at
  set_record(op.id, record)
  log_expiry(log, expires_at, op.id)
end

-- Fails the task for good; returns whether its item went to the dead letters.
local function fail(op, record, err, run_ms, spec)
  set_error(record, err)
  finalize(op, record, 'F', spec)
  local name = record_name(record)
  log_change(log, op.id, 'failed', name, false, run_ms)
  log_failure(log, name, op.id, err, record.attempt, true, now)
  local dead = spec ~= nil and spec.use_dead
  release('fail', 0, dead, op.lease)
  return dead
end

-- A run starts under this lease (the worker keeps it at the task's visibility timeout).
local function start(op, record)
  record.state, record.attempt, record.x = 's', record.attempt + 1, op.lease
  set_record(op.id, record)
  log_change(log, op.id, 'started', record_name(record), false, -1)
end

local outcomes, attempts = {}, {}
for i, op in ipairs(ops) do
  local record = records[op.id]
  local kind, is_live = op.kind, live[op.lease] ~= nil
  local final = record and FINAL[record.state]
  local outcome = '-'
  if kind == 'S' then
    local spec = specs[record and record_name(record) or op.name]
    if record and record.state == 'F' and op.first then
      -- a failed task's redriven dead letter: it starts afresh
      record.state, record.attempt = 'q', 0
      set_error(record, '')
      final = false
    end
    if not is_live or not spec then
      outcome = '-'
    elseif not record then
      -- no record to start from (one lost, or expired after a failure): a fresh start
      record = new_record('q', 0, '', op.name, '')
      start(op, record)
      outcome = 's'
    elseif final then
      finish[#finish + 1] = op.lease
    elseif record.state == 's' and record.x == op.lease then
      outcome = 's'
    elseif is_spent(record, op.lease, spec) then
      outcome = fail(op, record, DIED, -1, spec) and 'g' or 'f'
    else
      start(op, record)
      outcome = 's'
    end
    if outcome ~= '-' then attempts[#attempts + 1] = record.attempt end
  elseif kind == 'D' then
    if is_live then finish[#finish + 1] = op.lease end
    if record and not final then
      local name = record_name(record)
      local spec = specs[name]
      if op.result then redis.call('SET', op.result_key, op.result, 'PX', spec and spec.result_ms or 1) end
      finalize(op, record, op.result and 'V' or 'D', spec)
      log_change(log, op.id, 'done', name, false, op.run_ms)
      outcome = 'd'
    end
  elseif kind == 'R' then
    if record and record.state == 's' and record.attempt == op.attempt then
      local name = record_name(record)
      local spec = specs[name]
      local delay = spec and spec.retry_ms or 0
      record.state, record.x = delay > 0 and 'd' or 'q', ''
      set_error(record, op.err)
      set_record(op.id, record)
      log_change(log, op.id, STATE_NAMES[record.state], name, true, op.run_ms)
      log_failure(log, name, op.id, op.err, record.attempt, false, now)
      if is_live then release('count', delay, false, op.lease) end
      outcome = delay > 0 and 'y' or 'r'
    elseif is_live and (not record or final) then
      -- final elsewhere meanwhile: the item has nothing left to do
      finish[#finish + 1] = op.lease
    end
  elseif kind == 'F' then
    if record and not final and record.attempt == op.attempt then
      outcome = fail(op, record, op.err, op.run_ms, specs[record_name(record)]) and 'g' or 'f'
      attempts[#attempts + 1] = record.attempt
    elseif is_live and (not record or final) then
      finish[#finish + 1] = op.lease
    end
  elseif kind == 'Z' then
    if is_live then
      release('fail', 0, true, op.lease)
      outcome = 'g'
      attempts[#attempts + 1] = 0
    end
  elseif kind == 'X' then
    if is_live then
      finish[#finish + 1] = op.lease
      outcome = 'a'
    end
  elseif kind == 'H' then
    if op.unstart and record and record.state == 's' and record.x == op.lease then
      -- the run never began: as if the claim had not started it
      record.state, record.attempt, record.x = 'q', record.attempt - 1, ''
      set_record(op.id, record)
      local m = metrics_of(log, record_name(record))
      m.started = m.started - 1
      log.events[#log.events + 1] = op.id .. ' queued'
    end
    if is_live then
      release('keep', op.delay, false, op.lease)
      outcome = 'a'
    end
  end
  outcomes[i] = outcome
end

local writes, removes = {}, {}
for _, id in ipairs(changed_order) do
  local record = records[id]
  if record then
    writes[#writes + 1] = id
    writes[#writes + 1] = encode_record(record)
  else
    removes[#removes + 1] = id
  end
end
if #writes > 0 then redis.call('HSET', T.tasks, unpack(writes)) end
if #removes > 0 then redis.call('HDEL', T.tasks, unpack(removes)) end
if #finish > 0 then
  -- the leases to finish were found live above: finish them by the entry that owns them
  local owned, order, seen, n = {}, {}, {}, 0
  for _, lease in ipairs(finish) do
    local owner = owner_of[lease]
    if not seen[lease] then
      seen[lease] = true
      n = n + 1
      if not owned[owner] then
        owned[owner] = {}
        order[#order + 1] = owner
      end
      table.insert(owned[owner], lease)
    end
  end
  local has_owners = redis.call('EXISTS', Q.owners) == 1
  for _, owner in ipairs(order) do
    local leases_of = owned[owner]
    redis.call('HDEL', Q.inflight, unpack(leases_of))
    if has_owners then redis.call('HDEL', Q.owners, unpack(leases_of)) end
    release_from_entry(Q, owner, #leases_of)
  end
  redis.call('HINCRBY', Q.meta, 'dones', n)
end
for _, group in pairs(releases) do
  release_leases(lease_groups(group.leases), group.mode, group.delay, group.dead, now)
end
flush_log(log, channel, now)
return { table.concat(outcomes), table.concat(attempts, ',') }
