--[[
  group_unblock: lets ordered groups blocked by a dead-lettered head (onDead 'block') go
  on without a redrive, for dead letters handled some other way (see lib/groups.lua).

  KEYS    the 25 queue keys (see lib/queue.lua)
  ARGV[1] clock (test hook, "0" in production; see lib/clock.lua)
  ARGV[2..] group names
  Returns how many of them were blocked.
  Side effects: maintenance first (see get); an unblocked group with items waiting joins
  the end of group-ready and wakes blocked readers. The dead letters stay where they are:
  a later redrive still puts them back in their groups at their put-order place.
]]
--@include queue

check_queue_format(Q)
local now = now_ms(ARGV[1])
maintain_if_due(Q, D, now)
if not has_groups() then return 0 end
local gs = {}
for i = 2, #ARGV do gs[#gs + 1] = ARGV[i] end
return group_lib().unblock(gs)
