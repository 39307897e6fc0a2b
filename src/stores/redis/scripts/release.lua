--[[
  release: ends live deliveries without done.

  KEYS    the 25 queue keys (see lib/queue.lua)
  ARGV[1] clock (test hook, "0" in production; see lib/clock.lua)
  ARGV[2] delay in ms before requeued items are visible again (0 = at once)
  ARGV[3] mode: 'count' - the delivery failed and uses an attempt; the item is requeued,
                          or dead-lettered / dropped when its attempts are spent
                'keep'  - the item was never worked on: requeued, no attempt used
                'unread' - as 'keep', for a read whose caller never saw its reply (an
                          aborted blocking read): the read's count in meta.deliveries
                          is taken back too
                'fail'  - a final failure: dead-lettered / dropped whatever its attempts
  ARGV[4] for 'fail': '1' dead-letter, '0' drop; otherwise the lease entry's setting
          applies and this is ''
  ARGV[5..] lease groups: <group count>, then per group <entry> <n> <item id>*n
  Returns { lease_1, outcome_1, ... } for live leases, outcome 'requeued', 'dead' or
  'dropped'.
  Side effects: maintenance first (see get), so deliveries that ended earlier are settled
  before these; then the inflight fields go; requeued items go to sorted (or delayed),
  the others to the dead-letter queue or away; blocked readers are woken.
  Invariant: stale or unknown leases change nothing.
]]
--@include queue
--@include ops

return release_leases(read_groups(5), ARGV[3], tonumber(ARGV[2]), ARGV[4] == '1', now_ms(ARGV[1]))
