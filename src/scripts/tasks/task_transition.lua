--[[
  task_transition: moves one task's status record, if the state machine allows it.

  KEYS[1] the task's status hash ({prefix:queue}:task:<task id>)
  KEYS[2] the task's result string ({prefix:queue}:result:<task id>)
  ARGV[1] clock (test hook, "0" in production; see lib/clock.lua)
  ARGV[2] pub/sub channel of the queue's task events
  ARGV[3] task id
  ARGV[4] target state: started | queued | delayed | done | failed | cancelled
  ARGV[5] the attempt the change is about (1 = first run); unused for started/cancelled
  ARGV[6] ms to keep the record afterwards
  ARGV[7] error text (failed, or queued/delayed after a failed attempt), else ''
  ARGV[8] result JSON for done ('' = no result saved)
  ARGV[9] ms to keep the result
  ARGV[10] task name (used when a start finds no record)
  ARGV[11] started: runs the task allows in all
  ARGV[12] started: '1' when this is the first delivery of its queue item (a redriven
           dead letter is one), else '0'
  ARGV[13] started: ms to keep the record if the start finds the runs spent (failed)
  Returns { applied (1/0), state after, attempt after }. A start that finds the runs
  spent returns { 1, 'failed', attempt }.

  The state machine (attempt = runs started so far; the record counts runs, not queue
  deliveries, so a task fetched ahead by a worker that died is not charged a run):
    started        from no record or queued/delayed: attempt becomes attempt + 1.
                   From started (its runner died or hung past the lease): the same,
                   unless the runs are spent; then the task becomes failed instead
                   (and the caller dead-letters or drops the item). From failed, only on
                   the first delivery of a queue item: a redriven dead letter, which
                   starts again with fresh attempts.
    queued/delayed after attempt k failed and will be retried: only from started k
    done           from any non-final state: a finished run is never thrown away
    failed         only from started k or queued/delayed after k: a stale attempt
                   cannot fail a task that a newer attempt is running
    cancelled      only from queued/delayed: cancel never races a start
  done, failed and cancelled are final (but for the redrive above). Every applied change
  is published as "<task id> <state>" so that waiters wake without polling.
]]
--@include clock

local now = now_ms(ARGV[1])
local key, result_key = KEYS[1], KEYS[2]
local target, attempt = ARGV[4], tonumber(ARGV[5])
local error_text, keep_ms = ARGV[7], ARGV[6]
local record = redis.call('HMGET', key, 'state', 'attempt')
local state, current = record[1], tonumber(record[2] or '0')

local final = state == 'done' or state == 'failed' or state == 'cancelled'
local pending = state == 'queued' or state == 'delayed'
local allowed = false
if target == 'started' then
  local redriven = state == 'failed' and ARGV[12] == '1'
  if redriven then
    current = 0
  elseif state == 'started' and current >= tonumber(ARGV[11]) then
    -- the last allowed run was interrupted: the runs are spent
    target, attempt = 'failed', current
    error_text = 'the worker running the last attempt stopped before it finished'
    keep_ms = ARGV[13]
  end
  allowed = redriven or not final
  if target == 'started' then attempt = current + 1 end
elseif final then
  allowed = false
elseif target == 'queued' or target == 'delayed' then
  allowed = state == 'started' and attempt == current
elseif target == 'done' then
  allowed = true
elseif target == 'failed' then
  allowed = attempt == current and (state == 'started' or pending)
elseif target == 'cancelled' then
  allowed = pending
end

if not allowed then
  return { 0, state or '', current }
end

local fields = { 'state', target, 'at', now }
if target == 'started' or target == 'failed' then
  fields[#fields + 1] = 'attempt'
  fields[#fields + 1] = attempt
end
if not state then
  fields[#fields + 1] = 'task'
  fields[#fields + 1] = ARGV[10]
end
if error_text ~= '' then
  fields[#fields + 1] = 'error'
  fields[#fields + 1] = error_text
end
if target == 'done' and ARGV[8] ~= '' then
  redis.call('SET', result_key, ARGV[8], 'PX', ARGV[9])
  fields[#fields + 1] = 'result'
  fields[#fields + 1] = 1
end
redis.call('HSET', key, unpack(fields))
redis.call('PEXPIRE', key, keep_ms)
redis.call('PUBLISH', ARGV[2], ARGV[3] .. ' ' .. target)
return { 1, target, tonumber(redis.call('HGET', key, 'attempt')) }
