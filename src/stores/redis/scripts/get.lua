--[[
  get: delivers up to `count` visible items, highest priority first, then oldest.

  KEYS    the 20 queue keys (see lib/queue.lua)
  ARGV[1] clock (test hook, "0" in production; see lib/queue.lua now_ms)
  ARGV[2] count, 1..1000
  ARGV[3] visibility timeout in ms; 0 removes the items as they are read (at-most-once)
  ARGV[4] attempts: deliveries allowed before an item is dead-lettered or dropped
  ARGV[5] 1 to dead-letter items whose attempts are spent, 0 to drop them
  Returns { wait_ms, signal_id, entry, record_1, record_2, ... }. The lease of an item is
    "<id>:<entry>"; with visibility timeout 0, entry is '' and there are no leases.
    (The caller builds the lease strings: returning them too would double the reply.)
    wait_ms / signal_id are only filled when nothing was delivered: ms until the next
    delayed item or lease deadline comes due (-1: none; 0 when the read stopped in a
    burst of expired records, see take), and the last signal stream id for a blocking
    XREAD that must not miss a put made after this call.
  Side effects: counts meta.deliveries (or meta.empty_reads); maintenance when meta.due
  has come (due delayed items become visible,
  expired leases are requeued / dead-lettered / dropped, ttl-expired items go); with a
  visibility timeout, one inflight field per item, one entry and one deadline for the
  whole batch (meta.due lowered to it when it is the earliest timer).
  Invariant: an item has at most one live lease; it is handed out again only after that
  lease's deadline passed.
]]
--@include queue

local now = now_ms(ARGV[1])
local count, vis_ms = tonumber(ARGV[2]), tonumber(ARGV[3])
-- one read of meta serves the maintenance check, the next entry number and the delivery
-- count (maintenance changes neither of those two), so that a leased read writes meta once
local meta = redis.call('HMGET', Q.meta, 'due', 'entry', 'gen', 'deliveries')
local due = tonumber(meta[1] or '0')
if now >= due then
  timers().maintain(Q, D, now)
  due = tonumber(redis.call('HGET', Q.meta, 'due') or '0')
end
local recs, stopped = take(Q, count, true, now)

if #recs == 0 then
  -- counted only for a queue that exists (has had a put), so a read creates no key
  if meta[3] then redis.call('HINCRBY', Q.meta, 'empty_reads', 1) end
  -- a read that stopped in a burst of expired records may have left visible ones: the
  -- next read, due at once, goes on from there
  local wait_ms = stopped and 0 or -1
  for _, key in ipairs({ Q.delayed, Q.leases }) do
    local first = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
    if first[2] then
      local ms = math.max(0, tonumber(first[2]) - now)
      if wait_ms < 0 or ms < wait_ms then wait_ms = ms end
    end
  end
  local last = redis.call('XREVRANGE', Q.signal, '+', '-', 'COUNT', 1)
  return { wait_ms, last[1] and last[1][1] or '0-0' }
end

local out = { -1, '', '' }
if vis_ms <= 0 then
  redis.call('HINCRBY', Q.meta, 'deliveries', #recs)
  for i, rec in ipairs(recs) do out[i + 3] = rec end
  return out
end

local entry = int_str(next_entry_after(meta[2], now))
local deadline = now + vis_ms
local fields, ids = {}, {}
for i, rec in ipairs(recs) do
  local id = id_of(rec)
  ids[i] = id
  fields[2 * i - 1] = id .. ':' .. entry
  fields[2 * i] = rec
  out[i + 3] = rec
end
out[3] = entry
redis.call('HSET', Q.inflight, unpack(fields))
redis.call('HSET', Q.entries, entry, ARGV[4] .. '|' .. ARGV[5] .. '|b|' .. table.concat(ids, ','),
  entry .. ':n', #recs)
redis.call('ZADD', Q.leases, deadline, entry)
local deliveries = int_str(tonumber(meta[4] or '0') + #recs)
if deadline < due then
  redis.call('HSET', Q.meta, 'entry', entry, 'deliveries', deliveries, 'due', int_str(deadline))
else
  redis.call('HSET', Q.meta, 'entry', entry, 'deliveries', deliveries)
end
return out
