--[[
  tasks/cancel: cancels a queued or delayed task (also one waiting to be retried).

  KEYS     the 20 queue keys (see lib/queue.lua), the tasks hash (21), the metrics hash
           (22, unused), the task's finished record key (23)
  ARGV[1]  clock (test hook, "0" in production; see lib/clock.lua)
  ARGV[2]  task id
  ARGV[3]  ms to keep the cancelled record
  ARGV[4]  pub/sub channel of the queue's task events
  Returns 1 when cancelled (it will not run again), 0 when it is running or final.
  Side effects: the record in the tasks hash becomes c (cancelled) until a claim discards
  the task's item; the finished record says cancelled; one task event.
  Invariant: a cancel and a start never both win: both are atomic and each checks the state.
]]
--@include queue
--@include tasks

local now = now_ms(ARGV[1])
local task_id = ARGV[2]
local record = decode_record(redis.call('HGET', T.tasks, task_id))
if not record or (record.state ~= 'q' and record.state ~= 'd') then return 0 end
redis.call('HSET', T.tasks, task_id, encode_record('c', record.attempt, now, '', record.name, record.err))
redis.call('SET', KEYS[23], encode_record('cancelled', record.attempt, now, '0', record.name, record.err), 'PX', ARGV[3])
local log = new_log()
log_change(log, task_id, 'cancelled', record.name, false, -1)
flush_log(log, ARGV[4])
return 1
