--[[
  tasks/enqueue: puts tasks of one name and writes their records, in one atomic step.

  KEYS     the 25 queue keys (see lib/queue.lua), the tasks hash (26), then the task
           keys the claim and settle scripts get (see lib/tasks.lua), unused
  ARGV[1]  clock (test hook, "0" in production; see lib/clock.lua)
  ARGV[2]  delay in ms; > 0 hides the items until now + delay
  ARGV[3]  priority, an integer from -1000 to 1000
  ARGV[4]  task name
  ARGV[5]  the items' metadata, the same for all ('' for none; see lib/queue.lua's record)
  ARGV[6..] per task: task id (its item id too), then its item's payload (the task message)
  Returns per task 1 when it was put, 0 when its id already has a record that is not
  expired: the same put sent again (a client resending after a reconnect) puts nothing.
  Side effects: the put's (see put.lua); one record per task put, state q (queued) or
  d (delayed), 0 runs.
]]
--@include queue
--@include ops
--@include tasks

local now = now_ms(ARGV[1])
set_now(now)
local delay, priority, name = tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
local metas = ARGV[5] == '' and {} or { ARGV[5] }
local n = (#ARGV - 5) / 2
local ids = {}
for i = 1, n do ids[i] = ARGV[4 + 2 * i] end
local existing = redis.call('HMGET', T.tasks, unpack(ids))

local put_ids, payloads, fields, written = {}, {}, {}, {}
local text = encode_record(new_record(delay > 0 and 'd' or 'q', 0, '', name, ''))
for i = 1, n do
  local found = decode_record(existing[i])
  if found and not is_expired(found, now) then
    written[i] = 0
  else
    written[i] = 1
    put_ids[#put_ids + 1] = ids[i]
    payloads[#payloads + 1] = ARGV[5 + 2 * i]
    fields[#fields + 1] = ids[i]
    fields[#fields + 1] = text
  end
end
if #put_ids > 0 then
  put_items(payloads, put_ids, delay, priority, 0, now, metas)
  redis.call('HSET', T.tasks, unpack(fields))
end
return written
