--[[
  group_put: stores up to 1000 items of ordered groups in one atomic step, in order
  (see lib/groups.lua and docs/groups.md).

  KEYS    the 25 queue keys (see lib/queue.lua); writes group-items, group-ready, group-held
  ARGV[1] clock (test hook, "0" in production; see lib/clock.lua)
  ARGV[2] delay in ms; > 0 hides the items until now + delay (they join their groups then)
  ARGV[3] onDead: 'skip' or 'block' (recorded in meta.groups)
  ARGV[4] k, how many item metadata follow: 0 (none), 1 (every item's) or one per item
  ARGV[5..4+k] the metadata (see lib/queue.lua's record)
  ARGV[5+k] g, how many group names follow: 1 (every item's) or one per item
  ARGV[6+k..5+k+g] the group names (1 to 512 characters, no "\0")
  ARGV[6+k+g..] payloads (JSON text)
  Returns the new item ids, in ARGV order.
  Side effects: visible items wait in group-items; a group that was idle joins the end of
  group-ready; delayed items go to delayed (group-held marks their group); moves
  meta.seq on and counts meta.puts; sets meta.groups; wakes blocked readers.
  Priority and ttl are refused before this script (DataQueue: a group has put order only).
]]
--@include queue

local k = tonumber(ARGV[4])
local metas, groups, payloads = {}, {}, {}
for i = 1, k do metas[i] = ARGV[4 + i] end
local g = tonumber(ARGV[5 + k])
for i = 1, g do groups[i] = ARGV[5 + k + i] end
for i = 6 + k + g, #ARGV do payloads[#payloads + 1] = ARGV[i] end
return group_lib().put(payloads, groups, tonumber(ARGV[2]), now_ms(ARGV[1]), metas, ARGV[3])
