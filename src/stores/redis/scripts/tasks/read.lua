--[[
  tasks/read: a task's record, from the tasks hash while its item is in the queue, else
  its finished record.

  KEYS[1] the tasks hash ({prefix:queue}:tasks)
  KEYS[2] the task's finished record ({prefix:queue}:task:<id>)
  ARGV[1] task id
  Returns the record text (see lib/tasks.lua), or '' when there is none.
]]
local record = redis.call('HGET', KEYS[1], ARGV[1])
-- a task cancelled while queued keeps a marker in the hash until its item is discarded
if record and string.sub(record, 1, 2) ~= 'c|' then return record end
return redis.call('GET', KEYS[2]) or ''
