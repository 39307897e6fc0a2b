--[[
  release: ends live deliveries without done.

  KEYS    the 20 queue keys (see lib/queue.lua)
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

local now = now_ms(ARGV[1])
local visible_at = now + tonumber(ARGV[2])
maintain_if_due(Q, D, now)
local mode = ARGV[3]
local count_delivery = mode ~= 'keep' and mode ~= 'unread'
local by_owner, order, records = live_by_owner(Q, read_groups(5), now)
local out, dead_batch, requeued, earliest = {}, {}, false, nil

for _, owner in ipairs(order) do
  local leases = by_owner[owner]
  local attempts, use_dead = parse_entry(redis.call('HGET', Q.entries, owner))
  if mode == 'fail' then
    -- one more failed delivery than the record has spends the attempts whatever they are
    attempts = 0
    use_dead = ARGV[4] == '1'
  end
  for _, lease in ipairs(leases) do
    local outcome, timer = timers().settle_undone(Q, D, records[lease], attempts, use_dead, now,
      visible_at, now, count_delivery, dead_batch)
    if outcome == 'requeued' then requeued = true end
    if timer then earliest = math.min(earliest or timer, timer) end
    out[#out + 1] = lease
    out[#out + 1] = outcome
  end
  redis.call('HDEL', Q.inflight, unpack(leases))
  redis.call('HDEL', Q.owners, unpack(leases))
  release_from_entry(Q, owner, #leases)
end
timers().count(Q, 'dead_lettered', #dead_batch)
if mode == 'unread' and #out > 0 then redis.call('HINCRBY', Q.meta, 'deliveries', -#out / 2) end
timers().append_dead(D, dead_batch, now)
if earliest then lower_due(Q, earliest) end
if requeued then signal(Q) end
return out
