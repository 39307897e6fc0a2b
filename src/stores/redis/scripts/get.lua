--[[
  get: delivers up to `count` visible items, highest priority first, then oldest.

  KEYS    the 25 queue keys (see lib/queue.lua)
  ARGV[1] clock (test hook, "0" in production; see lib/queue.lua now_ms)
  ARGV[2] count, 1..1000
  ARGV[3] visibility timeout in ms; 0 removes the items as they are read (at-most-once)
  ARGV[4] attempts: deliveries allowed before an item is dead-lettered or dropped
  ARGV[5] 1 to dead-letter items whose attempts are spent, 0 to drop them
  ARGV[6] optional: the reader's limits "<intervalUs>:<burst>:<maxInflight>" (lib/limits.lua)
  Returns { wait_ms, signal_id, entry, record_1, record_2, ... }. The lease of an item is
    "<id>:<entry>"; with visibility timeout 0, entry is '' and there are no leases.
    (The caller builds the lease strings: returning them too would double the reply.)
    wait_ms / signal_id are only filled when nothing was delivered: ms until the next
    delayed item or lease deadline comes due (-1: none; 0 when the read stopped in a
    burst of expired records, see take), and the last signal stream id for a blocking
    XREAD that must not miss a put made after this call. A read held back by a pause or
    a limit returns { wait_ms, cursor, reason }: reason 'p' paused, 'i' in-flight cap,
    'r' rate limit; wait_ms until that can end; cursor "l:<id>" of the limit signal
    ('' for 'r', whose reader just sleeps; see lib/limits.lua).
  Side effects: counts meta.deliveries (or meta.empty_reads); maintenance when meta.due
  has come (due delayed items become visible,
  expired leases are requeued / dead-lettered / dropped, ttl-expired items go); with a
  visibility timeout, one inflight field per item, one entry and one deadline for the
  whole batch (meta.due lowered to it when it is the earliest timer).
  Invariant: an item has at most one live lease; it is handed out again only after that
  lease's deadline passed.
]]
--@include queue
--@include ops

local now = now_ms(ARGV[1])
local recs, entry, _, wait_ms, cursor, limited =
  read_batch(tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4], ARGV[5], now, ARGV[6])
if #recs == 0 then return { wait_ms, cursor, limited } end
local out = { -1, '', entry }
for i, rec in ipairs(recs) do out[i + 3] = rec end
return out
