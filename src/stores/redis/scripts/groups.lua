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
local page = group_lib().page(ARGV[2], tonumber(ARGV[3]))
table.insert(page, 1, now)
return page
