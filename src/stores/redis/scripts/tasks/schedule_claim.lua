--[[
  schedule_claim: reads or claims the due time of a periodic or cron task, atomically,
  so that each due time fires once however many workers run.

  KEYS[1] the queue's schedule hash ({prefix:queue}:schedules): task name -> next due ms
  ARGV[1] clock (test hook, "0" in production; see lib/clock.lua)
  ARGV[2] task name
  ARGV[3] mode:
            'read'  only reads
            'init'  stores ARGV[5] if the task has no due time (a new schedule, or a
                    flushed Redis: workers register again when they start)
            'fire'  claims the due time ARGV[4] if it is still stored and has come
                    (now >= due): the one caller that wins stores ARGV[5]
            'move'  replaces the due time ARGV[4], if still stored, by ARGV[5] (the
                    schedule changed, e.g. `every` got shorter)
  ARGV[4] the due time the caller saw, ms (fire / move)
  ARGV[5] the due time to store, ms: the first tick after now (init / fire / move), so
          missed ticks collapse into one run
  Returns { claimed (1/0), due (ms, -1 when none is stored), now (ms) }.
]]
--@include clock

local now = now_ms(ARGV[1])
local name, mode = ARGV[2], ARGV[3]
local due = tonumber(redis.call('HGET', KEYS[1], name) or '-1')

if mode == 'init' and due < 0 then
  redis.call('HSET', KEYS[1], name, ARGV[5])
  return { 0, tonumber(ARGV[5]), now }
end
if mode == 'read' or mode == 'init' or due ~= tonumber(ARGV[4]) or due < 0 then
  return { 0, due, now }
end
if mode == 'fire' and now < due then
  return { 0, due, now }
end
redis.call('HSET', KEYS[1], name, ARGV[5])
return { mode == 'fire' and 1 or 0, tonumber(ARGV[5]), now }
