--[[
  task_create: writes the first status record of freshly enqueued tasks.

  KEYS[i]  the status hash of task i ({prefix:queue}:task:<task id>)
  ARGV[1]  clock (test hook, "0" in production; see lib/queue.lua now_ms)
  ARGV[2]  state: 'queued' or 'delayed'
  ARGV[3]  ms to keep a pending record (refreshed by every later transition)
  ARGV[3+i] task name of task i
  Returns the number of records written.
  Side effects: a record is written only where none exists: a worker that already
  started the task (it can be faster than this call) keeps its newer state.
  Record fields: state, attempt (starts so far), task, item (the queue item id, written by
  the first start: this call goes out with the put, before the id is known), at (ms of
  last change), error (last failure), result (1 when a result was saved).
]]
--@include clock

local now = now_ms(ARGV[1])
local written = 0
for i, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 0 then
    redis.call('HSET', key, 'state', ARGV[2], 'attempt', 0, 'task', ARGV[3 + i], 'at', now)
    redis.call('PEXPIRE', key, ARGV[3])
    written = written + 1
  end
end
return written
