--[[
  groups: one page of the queue's ordered groups, for dq.groups() (see lib/groups.lua).

  KEYS    the 25 queue keys (see lib/queue.lua)
  ARGV[1] clock (test hook, "0" in production; see lib/clock.lua)
  ARGV[2] HSCAN cursor of group-held ('0' to start)
  ARGV[3] HSCAN COUNT hint
  Returns { now_ms, next cursor ('0' at the end), then per group: name, state ('ready',
    'held', 'blocked' or 'idle'), depth (items waiting), out (items leased or held back
    by a release delay), head born ms (-1: nothing waits) }.
  Side effects: maintenance first (see get), so expired leases have reopened their groups.
  A scan in pages: each page is atomic, the whole listing is not.
]]
--@include queue

check_queue_format(Q)
local now = now_ms(ARGV[1])
maintain_if_due(Q, D, now)
local G = group_lib()
local reply = redis.call('HSCAN', G.GH, ARGV[2], 'MATCH', 'g:*', 'COUNT', tonumber(ARGV[3]))
local out = { now, reply[1] }
local fields = reply[2]
for i = 1, #fields, 2 do
  local g = string.sub(fields[i], 3)
  local s = G.decode_state(fields[i + 1])
  local from, to = '[' .. g .. '\0', '(' .. g .. '\1'
  local depth = redis.call('ZLEXCOUNT', G.GI, from, to)
  local head = -1
  if depth > 0 then
    head = born_of(string.sub(redis.call('ZRANGEBYLEX', G.GI, from, to, 'LIMIT', 0, 1)[1], #g + 2))
  end
  out[#out + 1] = g
  out[#out + 1] = s.blocked and 'blocked' or (s.out > 0 and 'held' or (s.ready and 'ready' or 'idle'))
  out[#out + 1] = depth
  out[#out + 1] = s.out
  out[#out + 1] = head
end
return out
