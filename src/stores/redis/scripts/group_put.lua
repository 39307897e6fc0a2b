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

local now = now_ms(ARGV[1])
local delay = tonumber(ARGV[2])
local k = tonumber(ARGV[4])
local metas, groups, payloads = {}, {}, {}
for i = 1, k do metas[i] = ARGV[4 + i] end
local ng = tonumber(ARGV[5 + k])
for i = 1, ng do groups[i] = ARGV[5 + k + i] end
for i = 6 + k + ng, #ARGV do payloads[#payloads + 1] = ARGV[i] end

local G = group_lib()
local n = #payloads
local gen, first = reserve_seq(Q, n, now, 'puts')
redis.call('HSET', Q.meta, 'groups', ARGV[3])
local ids, delayed, visible = {}, {}, {}
for i = 1, n do
  local id = gen .. '-' .. int_str(first + i - 1)
  ids[i] = id
  local g = groups[ng == 1 and 1 or i]
  local rec = seq_str(first + i - 1) .. '|' .. id .. '|0|0|0|' .. (k == 1 and metas[1] or metas[i] or '') .. '|' .. payloads[i]
  if delay > 0 then
    delayed[#delayed + 1] = now + delay
    delayed[#delayed + 1] = rec
    G.mark_delayed(id, g)
  else
    visible[#visible + 1] = g
    visible[#visible + 1] = rec
  end
end
if delay > 0 then
  chunked('ZADD', Q.delayed, delayed, 2)
  lower_due(Q, now + delay)
end
-- groups that were idle become ready in the order of their first item in the put
local names = {}
for i = 1, #visible, 2 do names[#names + 1] = visible[i] end
G.load_states(names)
for i = 1, #visible, 2 do G.wait_in(visible[i], visible[i + 1]) end
-- flush wakes blocked readers when a group became ready; a put wakes them either way
if not G.flush() then signal(Q) end
return ids
