--[[
  tasks/settle: applies the settle ops of one queue's task runs in one atomic step: the
  record change and the item's settlement of each op go together (a done with its saved
  result, a retry, a failure with its dead letter), and fetched tasks are started.

  KEYS     the 25 queue keys (see lib/queue.lua), the tasks hash (26), the metrics hash
           (27), the expiry list (28), the failures list (29) (see lib/tasks.lua), then the
           result keys of the dones with a result to save
  ARGV[1]  clock (test hook, "0" in production; see lib/clock.lua)
  ARGV[2]  pub/sub channel of the queue's task events
  ARGV[3..] the queue's task specs (see lib/tasks.lua read_specs), then the ops grouped by
           the entry of their deliveries' leases ("<task id>:<entry>"): <group count>, then
           per group <entry> <op count> and its ops, each a kind letter, the task id and:
             S start    '1' if it is the item's first delivery, the task name
             D done     the run ms
             V done     with a result to save: the run ms, the KEYS index of its result
                        key, the result JSON
             R retry    the attempt, the run ms, the error
             F fail     the attempt, the run ms (-1: no run ended here), the error
             X discard  -
             Z dead     - (an item that is no task: to the dead letters whatever)
             H handBack '1' to take back the start this lease made, the delay ms
  Returns { outcomes, attempts }: outcomes one letter per op, in order: s started, r
  requeued, y delayed (a retry), d done, f failed, g failed and dead-lettered, a applied
  (a discard or hand-back of a live delivery), F nothing changed, the same failure sent
  again (the task failed at that run), - nothing changed; attempts the run number of each
  s, f, g and F outcome, comma-separated, in order.

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

-- The ops in parallel arrays (a table per op would cost more than most ops' work): kind,
-- task id, lease, and up to three arguments. A done's lease (D, V) is finished with its
-- entry's other dones when that entry is live; every other op needs to know whether its
-- own lease is live (check).
local kinds, task_ids, leases, arg1, arg2, arg3 = {}, {}, {}, {}, {}, {}
local check_groups, done_groups = {}, {}
local group_count = tonumber(ARGV[pos])
pos = pos + 1
for _ = 1, group_count do
  local entry, n = ARGV[pos], tonumber(ARGV[pos + 1])
  local check, dones = {}, {}
  pos = pos + 2
  for _ = 1, n do
    local i = #kinds + 1
    local kind, id = ARGV[pos], ARGV[pos + 1]
    local lease = id .. ':' .. entry
    kinds[i], task_ids[i], leases[i] = kind, id, lease
    if kind == 'D' then
      arg1[i] = ARGV[pos + 2]
      dones[#dones + 1] = lease
      pos = pos + 3
    elseif kind == 'V' then
      arg1[i], arg2[i], arg3[i] = ARGV[pos + 2], KEYS[tonumber(ARGV[pos + 3])], ARGV[pos + 4]
      dones[#dones + 1] = lease
      pos = pos + 5
    else
      check[#check + 1] = lease
      if kind == 'S' then
        arg1[i], arg2[i] = ARGV[pos + 2] == '1', ARGV[pos + 3]
        pos = pos + 4
      elseif kind == 'R' or kind == 'F' then
        arg1[i], arg2[i], arg3[i] = tonumber(ARGV[pos + 2]), ARGV[pos + 3], ARGV[pos + 4]
        pos = pos + 5
      elseif kind == 'H' then
        arg1[i], arg2[i] = ARGV[pos + 2] == '1', tonumber(ARGV[pos + 3])
        pos = pos + 4
      else
        pos = pos + 2
      end
    end
  end
  if #check > 0 then check_groups[#check_groups + 1] = { entry = entry, leases = check } end
  if #dones > 0 then done_groups[#done_groups + 1] = { entry = entry, leases = dones } end
end

-- Which leases are live. A done needs no lookup of its own while no lease has moved to a
-- refresh entry (no owners hash): its entry's deadline says it all, and finishing it
-- deletes its inflight field if it has one. Otherwise dones are checked like the rest.
local has_owners = redis.call('EXISTS', Q.owners) == 1
if has_owners then
  for _, g in ipairs(done_groups) do check_groups[#check_groups + 1] = g end
  done_groups = {}
end
local liveness = {}
local by_owner, live = {}, {}
if #check_groups > 0 then
  local _
  by_owner, _, live = live_by_owner(Q, check_groups, now, has_owners, liveness)
end
local owner_of = {}
for owner, owned in pairs(by_owner) do
  for _, lease in ipairs(owned) do owner_of[lease] = owner end
end
local stored = redis.call('HMGET', T.tasks, unpack(task_ids))
-- task id -> its record as this script changes it (false: none): its text until an op
-- needs its fields, then a table (see record_of); a done rewrites the text as it is
local records = {}
for i, id in ipairs(task_ids) do
  if records[id] == nil then records[id] = stored[i] or false end
end
local function record_of(id)
  local record = records[id]
  if type(record) == 'string' then
    record = decode_record(record)
    records[id] = record
  end
  return record
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

-- When a record that becomes final now expires, as text, for the spec's time.
local expiry_text = {}
local function expiry_of(spec)
  local keep = spec and spec.keep_ms or 0
  local expires_at = expiry_text[keep]
  if not expires_at then
    expires_at = int_str(now + keep)
    expiry_text[keep] = expires_at
  end
  return expires_at
end

-- The record becomes final (D, V, F) for the spec's time.
local function finalize(id, record, state, spec)
  local expires_at = expiry_of(spec)
  record.state, record.x = state, expires_at
  set_record(id, record)
  log_expiry(log, expires_at, id)
end

-- Op i, a done (`kind` D, or V with a result), of a task whose record is still the text
-- `text`: the text is rewritten, "<D|V>|<attempt>|<now>|<expires at>|<rest>", without
-- decoding it, the common case made cheap. Returns the outcome.
local function done_text(i, kind, text)
  if FINAL[string.sub(text, 1, 1)] then return '-' end
  local find, sub = string.find, string.sub
  local p2 = find(text, '|', 3, true)
  local p3 = find(text, '|', p2 + 1, true)
  local p4 = find(text, '|', p3 + 1, true)
  local rest = sub(text, p4 + 1)
  local name = name_of_rest(rest)
  local spec = specs[name]
  local id = task_ids[i]
  if kind == 'V' then redis.call('SET', arg2[i], arg3[i], 'PX', spec and spec.result_ms or 1) end
  local expires_at = expiry_of(spec)
  set_record(id, kind .. sub(text, 2, p2) .. now_text .. '|' .. expires_at .. '|' .. rest)
  log_expiry(log, expires_at, id)
  -- log_change, inlined: this is the path of most tasks
  log_event(log, id, 'done')
  local m = metrics_of(log, name)
  m.done = m.done + 1
  log_run(m, num(arg1[i]))
  return 'd'
end

-- Fails the task for good; returns whether its item went to the dead letters.
local function fail(i, record, err, run_ms, spec)
  local id = task_ids[i]
  set_error(record, err)
  finalize(id, record, 'F', spec)
  local name = record_name(record)
  log_change(log, id, 'failed', name, false, run_ms)
  log_failure(log, name, id, err, record.attempt, true, now)
  local dead = spec ~= nil and spec.use_dead
  release('fail', 0, dead, leases[i])
  return dead
end

-- A run starts under this lease (the worker keeps it at the task's visibility timeout).
local function start(i, record)
  record.state, record.attempt, record.x = 's', record.attempt + 1, leases[i]
  set_record(task_ids[i], record)
  log_change(log, task_ids[i], 'started', record_name(record), false, -1)
end

local outcomes, attempts = {}, {}
for i, kind in ipairs(kinds) do
  local id, lease = task_ids[i], leases[i]
  local is_live = live[lease] ~= nil
  local done = kind == 'D' or kind == 'V'
  local record = done and records[id] or record_of(id)
  local final = record and type(record) ~= 'string' and FINAL[record.state]
  local outcome = '-'
  if done then
    -- (its item is finished below, with its entry's other dones, when the lease is live)
    if has_owners and is_live then finish[#finish + 1] = lease end
    if type(record) == 'string' then
      outcome = done_text(i, kind, record)
    elseif record and not final then
      local name = record_name(record)
      local spec = specs[name]
      if kind == 'V' then redis.call('SET', arg2[i], arg3[i], 'PX', spec and spec.result_ms or 1) end
      finalize(id, record, kind, spec)
      log_change(log, id, 'done', name, false, num(arg1[i]))
      outcome = 'd'
    end
  elseif kind == 'S' then
    local spec = specs[record and record_name(record) or arg2[i]]
    if record and record.state == 'F' and arg1[i] then
      -- a failed task's redriven dead letter: it starts afresh
      record.state, record.attempt = 'q', 0
      set_error(record, '')
      final = false
    end
    if not is_live or not spec then
      outcome = '-'
    elseif not record then
      -- no record to start from (one lost, or expired after a failure): a fresh start
      record = new_record('q', 0, '', arg2[i], '')
      start(i, record)
      outcome = 's'
    elseif final then
      finish[#finish + 1] = lease
    elseif record.state == 's' and record.x == lease then
      outcome = 's'
    elseif is_spent(record, lease, spec) then
      outcome = fail(i, record, DIED, -1, spec) and 'g' or 'f'
    else
      start(i, record)
      outcome = 's'
    end
    if outcome ~= '-' then attempts[#attempts + 1] = record.attempt end
  elseif kind == 'R' then
    if record and record.state == 's' and record.attempt == arg1[i] then
      local name = record_name(record)
      local spec = specs[name]
      local delay = spec and spec.retry_ms or 0
      record.state, record.x = delay > 0 and 'd' or 'q', ''
      set_error(record, arg3[i])
      set_record(id, record)
      log_change(log, id, STATE_NAMES[record.state], name, true, num(arg2[i]))
      log_failure(log, name, id, arg3[i], record.attempt, false, now)
      if is_live then release('count', delay, false, lease) end
      outcome = delay > 0 and 'y' or 'r'
    elseif is_live and (not record or final) then
      -- final elsewhere meanwhile: the item has nothing left to do
      finish[#finish + 1] = lease
    end
  elseif kind == 'F' then
    if record and not final and record.attempt == arg1[i] then
      outcome = fail(i, record, arg3[i], num(arg2[i]), specs[record_name(record)]) and 'g' or 'f'
      attempts[#attempts + 1] = record.attempt
    else
      if record and record.state == 'F' and record.attempt == arg1[i] then
        -- the same failure sent again
        outcome = 'F'
        attempts[#attempts + 1] = record.attempt
      end
      if is_live and (not record or final) then finish[#finish + 1] = lease end
    end
  elseif kind == 'Z' then
    if is_live then
      release('fail', 0, true, lease)
      outcome = 'g'
      attempts[#attempts + 1] = 0
    end
  elseif kind == 'X' then
    if is_live then
      finish[#finish + 1] = lease
      outcome = 'a'
    end
  elseif kind == 'H' then
    if arg1[i] and record and record.state == 's' and record.x == lease then
      -- the run never began: as if the claim had not started it
      record.state, record.attempt, record.x = 'q', record.attempt - 1, ''
      set_record(id, record)
      local m = metrics_of(log, record_name(record))
      m.started = m.started - 1
      log_event(log, id, 'queued')
    end
    if is_live then
      release('keep', arg2[i], false, lease)
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
    writes[#writes + 1] = type(record) == 'string' and record or encode_record(record)
  else
    removes[#removes + 1] = id
  end
end
if #writes > 0 then redis.call('HSET', T.tasks, unpack(writes)) end
if #removes > 0 then redis.call('HDEL', T.tasks, unpack(removes)) end
local dones = 0
if #finish > 0 then
  -- the other leases to finish were found live above: finish them by the entry that owns them
  local owned, order, seen = {}, {}, {}
  for _, lease in ipairs(finish) do
    local owner = owner_of[lease]
    if not seen[lease] then
      seen[lease] = true
      dones = dones + 1
      if not owned[owner] then
        owned[owner] = {}
        order[#order + 1] = owner
      end
      table.insert(owned[owner], lease)
    end
  end
  for _, owner in ipairs(order) do
    local leases_of = owned[owner]
    redis.call('HDEL', Q.inflight, unpack(leases_of))
    if has_owners then redis.call('HDEL', Q.owners, unpack(leases_of)) end
    release_from_entry(Q, owner, #leases_of)
  end
end
-- then the dones by their entry: what HDEL deletes was live (and not finished just above),
-- the rest changes nothing
for _, g in ipairs(done_groups) do
  if liveness[g.entry] == nil then liveness[g.entry] = entry_is_live(Q, g.entry, now) or false end
  if liveness[g.entry] then
    local n = redis.call('HDEL', Q.inflight, unpack(g.leases))
    release_from_entry(Q, g.entry, n)
    dones = dones + n
  end
end
if dones > 0 then
  redis.call('HINCRBY', Q.meta, 'dones', dones)
  wake_slot_waiters()
end
for _, group in pairs(releases) do
  release_leases(lease_groups(group.leases), group.mode, group.delay, group.dead, now)
end
-- keys held until done by tasks done now, or whose items were finished without a run
-- (dedupe.lua; failures freed theirs as their items left, in release_leases)
local gone = {}
for i, outcome in ipairs(outcomes) do
  if outcome == 'd' then gone[#gone + 1] = task_ids[i] end
end
for _, lease in ipairs(finish) do gone[#gone + 1] = string.match(lease, '^(.*):[^:]*$') end
if #gone > 0 and dedupe_holding() then dedupe().free(gone) end
flush_log(log, channel, now)
return { table.concat(outcomes), table.concat(attempts, ',') }
