--[[
  tasks/read: a task's record (see lib/tasks.lua).

  KEYS[1] the tasks hash ({prefix:queue}:tasks)
  ARGV[1] clock (test hook, "0" in production; see lib/clock.lua)
  ARGV[2] task id
  Returns the record text, or '' when there is none (or it expired).
]]
--@include clock

local record = redis.call('HGET', KEYS[1], ARGV[2])
if not record then return '' end
-- a final record (D, V, F, C) says when it expires: then it is as good as gone (a
-- cancelled one whose item waits to be discarded says "k<ms>": it does not expire yet)
local state, expires_at = string.match(record, '^(.)|%d+|%w+|([^|]*)|')
local at = tonumber(expires_at)
if (state == 'D' or state == 'V' or state == 'F' or state == 'C') and at and at <= now_ms(ARGV[1]) then
  return ''
end
return record
