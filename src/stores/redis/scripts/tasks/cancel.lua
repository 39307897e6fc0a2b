--[[
  tasks/cancel: cancels a queued or delayed task (also one waiting to be retried).

  KEYS     the 25 queue keys (see lib/queue.lua), the tasks hash (26), the metrics hash
           (27, unused), the expiry list (28, unused), the failures list (29, unused)
  ARGV[1]  clock (test hook, "0" in production; see lib/clock.lua)
  ARGV[2]  task id
  ARGV[3]  ms to keep the cancelled record
  ARGV[4]  pub/sub channel of the queue's task events
  Returns 1 when cancelled (it will not run again), 0 when it is running or final.
  Side effects: the record becomes C (cancelled, final), kept until the claim that
  discards the task's item (then for ARGV[3] ms more); one task event; a dedupe key the
  task held until done is freed.
  Invariant: a cancel and a start never both win: both are atomic and each checks the state.
]]
--@include queue
--@include tasks

local now = now_ms(ARGV[1])
set_now(now)
local task_id = ARGV[2]
local record = decode_record(redis.call('HGET', T.tasks, task_id))
if not record or (record.state ~= 'q' and record.state ~= 'd') then return 0 end
record.state, record.x = 'C', 'k' .. ARGV[3]
redis.call('HSET', T.tasks, task_id, encode_record(record))
-- it will not run: a key it held until done is free now (lib/dedupe.lua)
if dedupe_holding() then dedupe().free({ task_id }) end
local log = new_log()
log_change(log, task_id, 'cancelled', record_name(record), false, -1)
flush_log(log, ARGV[4], now)
return 1
