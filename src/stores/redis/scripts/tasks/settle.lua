--[[
  tasks/settle: applies the settle ops of one queue's task runs in one atomic step: the
  record change and the item's settlement of each op go together (a done with its saved
  result, a retry, a failure with its dead letter), and fetched tasks are started.

  KEYS     the 20 queue keys (see lib/queue.lua), the tasks hash (21), the metrics hash
           (22), then per op i its task's finished record key (21 + 2i) and result key (22 + 2i)
  ARGV[1]  clock (test hook, "0" in production; see lib/clock.lua)
  ARGV[2]  pub/sub channel of the queue's task events
  ARGV[3..] the queue's task specs (see lib/tasks.lua read_specs), then per op 11 fields:
           kind (start | done | retry | fail | discard | handBack), lease, task id, task
           name, attempt, run ms (-1: no run ended), error text, result JSON, ms to keep
           the result, delay ms (retry, handBack), flag ('1': start - the item's first
           delivery; fail - dead-letter whatever the spec says; handBack - take back the
           start this lease made)
  Returns per op { applied (1/0), state after (full name, '' without a record), attempt
    after, dead-lettered (1/0) }.

  Per op, as in stores/memory/task-store.ts:
    start    a live delivery only. From q/d, or s by another lease (its worker died or
             hung) with runs left: s under this lease, one more run. From s under this
             lease: acknowledged (the same start sent again). Spent (s by another lease,
             its last run, or at most once): failed, item dead-lettered or dropped. From c,
             or a finished task: the item is finished without a run. Without a record: a
             fresh start (a failed task's redriven dead letter: first delivery, runs anew).
    done     the record becomes done (the result saved) from any state but a final one:
             a finished run is never thrown away; the item is finished.
    retry    from s by the same run: q (or d with a delay) with the error; the item is
             visible again after the delay, the delivery counted.
    fail     from s (or q/d) by the same run: failed for good; the item is dead-lettered
             (spec useDead, or the flag) or dropped, in this step.
    discard  the item is finished without a run (a c record goes with it).
    handBack the item is visible again after the delay without using a delivery; with the
             flag, a start under this lease is taken back (q, one run less).
  An op whose record change is not allowed still settles its item when that cannot lose
  a run: a task already finished elsewhere has its item finished.
]]
--@include queue
--@include ops
--@include tasks

local FIELDS = 11
local now = now_ms(ARGV[1])
local channel = ARGV[2]
local specs, pos = read_specs(3)
local n = (#ARGV - pos + 1) / FIELDS

local ops, all_leases, task_ids = {}, {}, {}
for i = 1, n do
  local at = pos + (i - 1) * FIELDS
  ops[i] = {
    kind = ARGV[at], lease = ARGV[at + 1], task_id = ARGV[at + 2], name = ARGV[at + 3],
    attempt = tonumber(ARGV[at + 4]), run_ms = tonumber(ARGV[at + 5]), err = ARGV[at + 6],
    result = ARGV[at + 7], result_ms = ARGV[at + 8], delay = tonumber(ARGV[at + 9]), flag = ARGV[at + 10] == '1',
    finished_key = KEYS[21 + 2 * i], result_key = KEYS[22 + 2 * i],
  }
  all_leases[i] = ops[i].lease
  task_ids[i] = ops[i].task_id
end

local _, _, live = live_by_owner(Q, lease_groups(all_leases), now)
local stored = redis.call('HMGET', T.tasks, unpack(task_ids))
local records = {} -- task id -> current record (false once removed), as this script changes them
for i, op in ipairs(ops) do
  if records[op.task_id] == nil then records[op.task_id] = decode_record(stored[i]) or false end
end

local log = new_log()
local changed, changed_order = {}, {} -- task ids whose record this script changed, in order
-- the items' settlements, gathered so that each kind is one call
local finish, extend, releases = {}, {}, {}
local function release(mode, delay, dead, lease)
  local key = mode .. '|' .. delay .. '|' .. (dead and '1' or '0')
  local group = releases[key]
  if not group then
    group = { mode = mode, delay = delay, dead = dead, leases = {} }
    releases[key] = group
  end
  group.leases[#group.leases + 1] = lease
end

-- `record` (false: none) becomes the task's record in the tasks hash
local function set_record(task_id, record)
  records[task_id] = record
  if not changed[task_id] then
    changed[task_id] = true
    changed_order[#changed_order + 1] = task_id
  end
end

local function finish_record(op, record, state, has_result, keep_ms)
  set_record(op.task_id, false)
  redis.call('SET', op.finished_key, encode_record(state, record.attempt, now, has_result and '1' or '0', record.name, record.err),
    'PX', keep_ms)
end

local function fail_record(op, record, err, run_ms, spec, dead)
  record.err = err
  finish_record(op, record, 'failed', false, spec and spec.keep_ms or '1')
  log_change(log, op.task_id, 'failed', record.name, false, run_ms)
  release('fail', 0, dead, op.lease)
end

local out = {}
local function answer(applied, op, dead)
  local record = records[op.task_id]
  local state, attempt = '', 0
  if record then
    state, attempt = STATE_NAMES[record.state], record.attempt
  else
    local finished = decode_record(redis.call('GET', op.finished_key))
    if finished then state, attempt = finished.state, finished.attempt end
  end
  out[#out + 1] = applied and 1 or 0
  out[#out + 1] = state
  out[#out + 1] = attempt
  out[#out + 1] = dead and 1 or 0
end

for _, op in ipairs(ops) do
  local record = records[op.task_id]
  local spec = specs[op.name]
  local is_live = live[op.lease] ~= nil
  local kind = op.kind
  if kind == 'start' then
    if not is_live or not spec then
      answer(false, op)
    elseif not record then
      local finished = decode_record(redis.call('GET', op.finished_key))
      if finished and not (finished.state == 'failed' and op.flag) then
        finish[#finish + 1] = op.lease
        answer(false, op)
      else
        -- no record to start from: a redriven dead letter, or a record lost; a fresh start
        if finished then redis.call('DEL', op.finished_key) end
        set_record(op.task_id, { state = 's', attempt = 1, lease = op.lease, name = op.name, err = '' })
        log_change(log, op.task_id, 'started', op.name, false, -1)
        if spec.vis_ms > 0 then table.insert(extend, { lease = op.lease, ms = spec.vis_ms }) end
        answer(true, op)
      end
    elseif record.state == 'c' then
      finish[#finish + 1] = op.lease
      set_record(op.task_id, false)
      answer(false, op)
    elseif record.state == 's' and record.lease == op.lease then
      answer(true, op)
    elseif is_spent(record, op.lease, spec) then
      fail_record(op, record, DIED, -1, spec, spec.use_dead)
      answer(true, op, spec.use_dead)
    else
      record.state, record.attempt, record.lease = 's', record.attempt + 1, op.lease
      set_record(op.task_id, record)
      log_change(log, op.task_id, 'started', record.name, false, -1)
      if spec.vis_ms > 0 then table.insert(extend, { lease = op.lease, ms = spec.vis_ms }) end
      answer(true, op)
    end
  elseif kind == 'done' then
    if is_live then finish[#finish + 1] = op.lease end
    if record and record.state ~= 'c' then
      local has_result = op.result ~= ''
      if has_result then redis.call('SET', op.result_key, op.result, 'PX', op.result_ms) end
      finish_record(op, record, 'done', has_result, spec and spec.keep_ms or '1')
      log_change(log, op.task_id, 'done', record.name, false, op.run_ms)
      answer(true, op)
    else
      answer(false, op)
    end
  elseif kind == 'retry' then
    if record and record.state == 's' and record.attempt == op.attempt then
      record.state, record.lease, record.err = op.delay > 0 and 'd' or 'q', '', op.err
      set_record(op.task_id, record)
      log_change(log, op.task_id, STATE_NAMES[record.state], record.name, true, op.run_ms)
      if is_live then release('count', op.delay, false, op.lease) end
      answer(true, op)
    else
      -- finished meanwhile: the item has nothing left to do
      if is_live and (not record or record.state == 'c') then finish[#finish + 1] = op.lease end
      answer(false, op)
    end
  elseif kind == 'fail' then
    local pending = record and (record.state == 's' or record.state == 'q' or record.state == 'd')
    if op.flag then
      if is_live then release('fail', 0, true, op.lease) end
      answer(is_live, op, is_live)
    elseif pending and record.attempt == op.attempt then
      local dead = spec ~= nil and spec.use_dead
      fail_record(op, record, op.err, op.run_ms, spec, dead)
      answer(true, op, dead)
    else
      if is_live and (not record or record.state == 'c') then finish[#finish + 1] = op.lease end
      answer(false, op)
    end
  elseif kind == 'discard' then
    if is_live then
      finish[#finish + 1] = op.lease
      if record and record.state == 'c' then set_record(op.task_id, false) end
    end
    answer(is_live, op)
  elseif kind == 'handBack' then
    if op.flag and record and record.state == 's' and record.lease == op.lease then
      -- the run never began: as if the claim had not started it
      record.state, record.attempt, record.lease = 'q', record.attempt - 1, ''
      set_record(op.task_id, record)
      count_metric(log, record.name .. '|started', -1)
    end
    if is_live then release('keep', op.delay, false, op.lease) end
    answer(is_live, op)
  end
end

local writes, removes = {}, {}
for _, task_id in ipairs(changed_order) do
  local record = records[task_id]
  if record then
    writes[#writes + 1] = task_id
    writes[#writes + 1] = encode_record(record.state, record.attempt, now, record.lease, record.name, record.err)
  else
    removes[#removes + 1] = task_id
  end
end
if #writes > 0 then redis.call('HSET', T.tasks, unpack(writes)) end
if #removes > 0 then redis.call('HDEL', T.tasks, unpack(removes)) end
if #finish > 0 then finish_leases(lease_groups(finish), now, false) end
for _, group in pairs(releases) do
  release_leases(lease_groups(group.leases), group.mode, group.delay, group.dead, now)
end
local by_ms = {}
for _, e in ipairs(extend) do
  by_ms[e.ms] = by_ms[e.ms] or {}
  table.insert(by_ms[e.ms], e.lease)
end
for ms, leases in pairs(by_ms) do refresh_leases(lease_groups(leases), now + ms, now) end
flush_log(log, channel)
return out
