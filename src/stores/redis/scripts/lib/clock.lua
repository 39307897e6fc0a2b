--[[
  Script time. Every visq script takes the clock as ARGV[1] and reads time only here.
]]

-- Redis time in ms. `clock` is ARGV[1], the test hook: "0" in production, a number of ms
-- to add to TIME, or "@<ms>" for a frozen absolute time (see src/data/clock.ts).
local function now_ms(clock)
  if string.sub(clock, 1, 1) == '@' then return tonumber(string.sub(clock, 2)) end
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(clock)
end
