--[[
  tasks/settle: applies the settle ops of one queue's task runs in one atomic step: the
  record change and the item's settlement of each op go together (a done with its saved
  result, a retry, a failure with its dead letter), and fetched tasks are started.

  KEYS     the 20 queue keys (see lib/queue.lua), the tasks hash (21), the metrics hash
           (22), the expiry list (23), the failures list (24) (see lib/tasks.lua), then the
           result keys of the dones with a result to save
  ARGV[1]  clock (test hook, "0" in production; see lib/clock.lua)
  ARGV[2]  pub/sub channel of the queue's task events
  ARGV[3..] the queue's task specs (see lib/tasks.lua read_specs), then the ops, each a
           kind letter, the delivery's lease, and per kind:
             S start    '1' if it is the item's first delivery, the task name
             D done     the attempt, the run ms, the KEYS index of its result key (0: no
                        result), and then the result JSON when there is one
             R retry    the attempt, the run ms, the error
             F fail     the attempt, the run ms (-1: no run ended here), the error
             X discard  -
             Z dead     - (an item that is no task: to the dead letters whatever)
             H handBack '1' to take back the start this lease made, the delay ms
  Returns per op "<applied 1|0><state letter or ->[+]<attempt>": the record's state and
  attempt afterwards, '+' when the item went to the dead letters.

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

local ops, task_ids, groups, by_entry = {}, {}, {}, {}
while pos <= #ARGV do
  local kind, lease = ARGV[pos], ARGV[pos + 1]
  local id, entry = string.match(lease, '^(.*):(%d+)$')
  local op = { kind = kind, lease = lease, id = id or lease }
  if kind == 'S' then
    op.first, op.name = ARGV[pos + 2] == '1', ARGV[pos + 3]
    pos = pos + 4
  elseif kind == 'D' then
    op.attempt, op.run_ms = tonumber(ARGV[pos + 2]), tonumber(ARGV[pos + 3])
    local result_key = tonumber(ARGV[pos + 4])
    if result_key > 0 then
      op.result_key, op.result = KEYS[result_key], ARGV[pos + 5]
      pos = pos + 6
    else
      pos = pos + 5
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
  task_ids[#ops] = op.id
  -- a malformed lease belongs to no group: it cannot be live
  if entry then
    local g = by_entry[entry]
    if not g then
      g = { entry = entry, leases = {} }
      by_entry[entry] = g
      groups[#groups + 1] = g
    end
    g.leases[#g.leases + 1] = lease
  end
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

local function fail(op, record, err, run_ms, spec)
  record.err = err
  finalize(op, record, 'F', spec)
  log_change(log, op.id, 'failed', record.name, false, run_ms)
  log_failure(log, record.name, op.id, err, record.attempt, true, now)
  local dead = spec ~= nil and spec.use_dead
  release('fail', 0, dead, op.lease)
  return dead
end

-- A run starts under this lease (the worker keeps it at the task's visibility timeout).
local function start(op, record)
  record.state, record.attempt, record.x = 's', record.attempt + 1, op.lease
  set_record(op.id, record)
  log_change(log, op.id, 'started', record.name, false, -1)
end

local out = {}
for i, op in ipairs(ops) do
  local record = records[op.id]
  local kind, is_live = op.kind, live[op.lease] ~= nil
  local applied, dead = false, false
  local final = record and FINAL[record.state]
  if kind == 'S' then
    local spec = specs[record and record.name or op.name]
    if record and record.state == 'F' and op.first then
      -- a failed task's redriven dead letter: it starts afresh
      record.state, record.attempt, record.err = 'q', 0, ''
      final = false
    end
    if not is_live or not spec then
      applied = false
    elseif not record then
      -- no record to start from (one lost, or expired after a failure): a fresh start
      start(op, { state = 'q', attempt = 0, x = '', name = op.name, err = '' })
      applied = true
    elseif final then
      finish[#finish + 1] = op.lease
    elseif record.state == 's' and record.x == op.lease then
      applied = true
    elseif is_spent(record, op.lease, spec) then
      dead = fail(op, record, DIED, -1, spec)
      applied = true
    else
      start(op, record)
      applied = true
    end
  elseif kind == 'D' then
    if is_live then finish[#finish + 1] = op.lease end
    if record and not final then
      local spec = specs[record.name]
      if op.result then redis.call('SET', op.result_key, op.result, 'PX', spec and spec.result_ms or 1) end
      finalize(op, record, op.result and 'V' or 'D', spec)
      log_change(log, op.id, 'done', record.name, false, op.run_ms)
      applied = true
    end
  elseif kind == 'R' then
    if record and record.state == 's' and record.attempt == op.attempt then
      local spec = specs[record.name]
      local delay = spec and spec.retry_ms or 0
      record.state, record.x, record.err = delay > 0 and 'd' or 'q', '', op.err
      set_record(op.id, record)
      log_change(log, op.id, STATE_NAMES[record.state], record.name, true, op.run_ms)
      log_failure(log, record.name, op.id, op.err, record.attempt, false, now)
      if is_live then release('count', delay, false, op.lease) end
      applied = true
    elseif is_live and (not record or final) then
      -- final elsewhere meanwhile: the item has nothing left to do
      finish[#finish + 1] = op.lease
    end
  elseif kind == 'F' then
    if record and not final and record.attempt == op.attempt then
      dead = fail(op, record, op.err, op.run_ms, specs[record.name])
      applied = true
    elseif is_live and (not record or final) then
      finish[#finish + 1] = op.lease
    end
  elseif kind == 'Z' then
    if is_live then release('fail', 0, true, op.lease) end
    applied, dead = is_live, is_live
  elseif kind == 'X' then
    if is_live then finish[#finish + 1] = op.lease end
    applied = is_live
  elseif kind == 'H' then
    if op.unstart and record and record.state == 's' and record.x == op.lease then
      -- the run never began: as if the claim had not started it
      record.state, record.attempt, record.x = 'q', record.attempt - 1, ''
      set_record(op.id, record)
      local m = metrics_of(log, record.name)
      m.started = m.started - 1
      log.events[#log.events + 1] = op.id .. ' queued'
    end
    if is_live then release('keep', op.delay, false, op.lease) end
    applied = is_live
  end
  record = records[op.id]
  out[i] = (applied and '1' or '0') .. (record and record.state or '-') .. (dead and '+' or '') ..
    (record and record.attempt or 0)
end

local writes = {}
for _, id in ipairs(changed_order) do
  writes[#writes + 1] = id
  writes[#writes + 1] = encode_record(records[id])
end
if #writes > 0 then redis.call('HSET', T.tasks, unpack(writes)) end
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
return out
