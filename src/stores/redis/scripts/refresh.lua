--[[
  refresh: extends live leases to now + visibility timeout.

  KEYS    the 20 queue keys (see lib/queue.lua)
  ARGV[1] clock (test hook, "0" in production; see lib/queue.lua now_ms)
  ARGV[2] visibility timeout in ms, > 0
  ARGV[3..] lease groups: <group count>, then per group <entry> <n> <item id>*n
  Returns the leases extended.
  Side effects: when every live lease of an entry is refreshed, the entry's deadline
  moves; otherwise the refreshed leases move to a new refresh entry (owners records it)
  that keeps the attempts and dead-letter setting of the entry they came from. A
  refresh that shortens a lease appends to the signal stream, and to the dead-letter
  queue's when the lease's entry dead-letters: blocked readers computed their wait from
  the deadlines they saw, so they read again and wait for the new one.
  Invariant: stale or unknown leases are left out and change nothing; a lease is never
  extended past its item's current delivery.
]]
--@include queue

local now = now_ms(ARGV[1])
local deadline = now + tonumber(ARGV[2])
local by_owner, order = live_by_owner(Q, read_groups(3), now)
local refreshed = {}
local shortened, shortened_dead = false, false

for _, owner in ipairs(order) do
  local leases = by_owner[owner]
  local live = tonumber(redis.call('HGET', Q.entries, owner .. ':n'))
  if deadline < tonumber(redis.call('ZSCORE', Q.leases, owner)) then
    shortened = true
    local _, use_dead = parse_entry(redis.call('HGET', Q.entries, owner))
    shortened_dead = shortened_dead or use_dead
  end
  if live == #leases then
    redis.call('ZADD', Q.leases, deadline, owner)
  else
    local attempts, use_dead = parse_entry(redis.call('HGET', Q.entries, owner))
    local entry = int_str(next_entry_after(redis.call('HGET', Q.meta, 'entry'), now))
    redis.call('HSET', Q.meta, 'entry', entry)
    redis.call('HSET', Q.entries,
      entry, int_str(attempts) .. '|' .. (use_dead and '1' or '0') .. '|r|' .. table.concat(leases, ','),
      entry .. ':n', #leases)
    redis.call('ZADD', Q.leases, deadline, entry)
    local owner_args = {}
    for _, lease in ipairs(leases) do
      owner_args[#owner_args + 1] = lease
      owner_args[#owner_args + 1] = entry
    end
    redis.call('HSET', Q.owners, unpack(owner_args))
    release_from_entry(Q, owner, #leases)
  end
  for _, lease in ipairs(leases) do refreshed[#refreshed + 1] = lease end
end
-- a refresh can shorten a lease: the new deadline may be the earliest timer
if #refreshed > 0 then lower_due(Q, deadline) end
if shortened then signal(Q) end
if shortened_dead then signal(D) end
return refreshed
