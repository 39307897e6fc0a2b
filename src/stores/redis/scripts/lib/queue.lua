--[[
  Shared core of every visq data-queue script. The loader pastes this file where a
  script says `--@include queue`, so each script stays one atomic EVALSHA, leaving out
  the functions that script never reaches (src/stores/redis/scripts/assemble.ts: keep the layout it
  relies on, `local function name(` ... `end` at column 0). What stays is defined on
  every call. The timer machinery (maintenance, requeue, dead letters) lives in
  lib/timers.lua and is defined only by the calls that use it (see `timers()` below).

  KEYS (the same 25 for every script, see src/stores/redis/keys.ts):
    KEYS[1..10]  the queue itself     KEYS[11..20] its dead-letter queue
    KEYS[21..25] the queue's feature keys: dedupe, dedupe-holders, group-items,
                 group-ready, group-held (each feature's lib documents its keys; a
                 queue that never uses a feature never creates them)
    +1 meta      hash: v (format of the stored layout, see check_format),
                 gen (id prefix of this key epoch), seq (last item seq),
                 entry (last lease-entry number, never below now_ms * 1000), expired,
                 dropped, due (a lower bound of every score in delayed, leases and
                 ttl: nothing can come due before it, so maintenance is skipped until
                 then; missing means 0, i.e. look now)
    +2 ready     list: records with priority 0 and no ttl, in seq order (the fast path)
    +3 sorted    zset: every other visible record, score = -priority; ties order by
                 member, and a member starts with its fixed-width seq, so by seq
    +4 delayed   zset: hidden records, score = visible-at (ms)
    +5 ttl       zset: visible records that have a ttl, score = expires-at (ms)
    +6 inflight  hash: lease -> record, one field per live delivery
    +7 owners    hash: lease -> entry, only for leases moved to a refresh entry
    +8 leases    zset: entry -> deadline (ms); one entry per read batch or refresh
    +9 entries   hash: <entry> -> "attempts|useDead|kind|list", <entry>:n -> live count;
                 for a task claim's entry also <entry>:c -> claim token, c:<token> -> entry
   +10 signal    stream (MAXLEN ~1): every put appends, waking blocked readers

  Record: "seq|id|deliveries|priority|ttlMs|meta|payload", seq zero-padded to 16 digits
  so that byte order is seq order. deliveries counts the deliveries that ended without
  done; the current delivery is deliveries + 1. meta is the item's metadata, carried
  beside the payload and never inside it: the W3C trace context of its put
  ("<traceparent>[ <tracestate>]", see src/trace/carrier.ts), empty for most items (one
  byte, its separator); it never contains '|'. The payload is opaque.

  Lease: "<id>:<entry>". An entry of kind "b" (read batch) lists item ids; a lease belongs
  to it unless owners says otherwise. An entry of kind "r" (refresh) lists whole leases.

  Invariants kept by every script:
    - a record is in exactly one of ready / sorted / delayed / inflight (or gone);
    - the ready list is sorted by seq, and every record in it has priority 0 and no ttl;
    - a lease is live iff it is an inflight field and its owning entry's deadline > now;
      once the deadline passes the lease is stale even before a script requeues it.
]]

--@include clock

local SEQ_WIDTH = 16
local NEVER = 9000000000000000 -- a due time later than any clock (fits a double exactly)
-- Bounded work per call (the next call continues): about MAX_ITEMS items per step of
-- maintenance (expired leases, promoted delays, ttl drops), and expired records skipped
-- by a read. Generous, so that only a pathological burst of due items can exceed it;
-- small enough to keep a script short.
local MAX_ITEMS = 20000
-- Items per variadic call, well inside Lua's unpack limit (about 8,000 values): a call
-- with more fails, and Redis does not roll back what the script wrote before it.
local CHUNK = 1000

local function queue_keys(base)
  return {
    meta = KEYS[base + 1], ready = KEYS[base + 2], sorted = KEYS[base + 3],
    delayed = KEYS[base + 4], ttl = KEYS[base + 5], inflight = KEYS[base + 6],
    owners = KEYS[base + 7], leases = KEYS[base + 8], entries = KEYS[base + 9],
    signal = KEYS[base + 10],
  }
end

local Q = queue_keys(0)
local D = queue_keys(10)

local function int_str(n)
  return string.format('%d', n)
end

local function seq_str(n)
  return string.format('%016d', n)
end

-- The id of a record; its seq has fixed width, so the id starts at SEQ_WIDTH + 2.
local function id_of(rec)
  return string.sub(rec, SEQ_WIDTH + 2, string.find(rec, '|', SEQ_WIDTH + 2, true) - 1)
end

-- Calls `command key <args>` in calls of at most CHUNK items (`per` arguments per item),
-- so that a batch of any size fits; returns the sum of the integer replies. Every
-- variadic call whose argument count is not bounded by one read batch goes through it.
local function chunked(command, key, args, per)
  local step, total = CHUNK * per, 0
  for i = 1, #args, step do
    local reply = redis.call(command, key, unpack(args, i, math.min(i + step - 1, #args)))
    if type(reply) == 'number' then total = total + reply end
  end
  return total
end

-- Approximate trimming: an exact MAXLEN 1 costs ~2.7 µs more per call (it marks the old
-- entry deleted in its node) and keeps no less memory, since a stream node is freed only
-- whole either way; `~` leaves at most one node (~100 tiny entries).
local function signal(q)
  redis.call('XADD', q.signal, 'MAXLEN', '~', '1', '*', 'v', '1')
end

-- Refuses a queue whose data another, incompatible visq wrote: its meta.v (the layout's
-- format, FORMAT, which the loader defines from src/stores/redis/format.ts) differs, or is
-- missing from a queue that has data (a layout older than format versions). Called by
-- the steps that meet a queue, its reads and puts, before they write anything; the
-- steps that settle leases work only on leases those reads issued.
local function check_format(found)
  if found ~= FORMAT then error({ err = 'VISQ_FORMAT ' .. (found or 'none') .. ' ' .. FORMAT }) end
end

-- check_format for the queue q, for the steps that meet it without reading its meta.
local function check_queue_format(q)
  local meta = redis.call('HMGET', q.meta, 'gen', 'v')
  if meta[1] then check_format(meta[2]) end
end

-- Reserves `n` sequence numbers in q; returns the id prefix and the first seq. Seqs
-- never run below now_ms * 1000, so a seq also tells when its item was put (or entered
-- the queue as a dead letter or by redrive): the age of the oldest item needs no field.
-- `total`, if given, names a meta counter that grows by n in the same write.
local function reserve_seq(q, n, now, total)
  local meta = redis.call('HMGET', q.meta, 'gen', 'seq', total or 'seq', 'v')
  local gen = meta[1]
  if gen and q == Q then check_format(meta[4]) end
  if not gen then
    local t = redis.call('TIME')
    local stamp = tonumber(t[1]) * 1000000 + tonumber(t[2])
    local digits, alphabet = {}, '0123456789abcdefghijklmnopqrstuvwxyz'
    while stamp > 0 do
      local d = stamp % 36
      table.insert(digits, 1, string.sub(alphabet, d + 1, d + 1))
      stamp = (stamp - d) / 36
    end
    gen = table.concat(digits)
    redis.call('HSET', q.meta, 'gen', gen, 'v', FORMAT)
    -- a new key epoch has no timer yet (this put may add one, and lowers it then), so that
    -- reads need not look for due items until something can come due
    redis.call('HSETNX', q.meta, 'due', int_str(NEVER))
  end
  local first = math.max(tonumber(meta[2] or '0') + 1, math.floor(now * 1000))
  if total then
    redis.call('HSET', q.meta, 'seq', int_str(first + n - 1), total, int_str(tonumber(meta[3] or '0') + n))
  else
    redis.call('HSET', q.meta, 'seq', int_str(first + n - 1))
  end
  return gen, first
end

-- When the item of a record entered the queue, in ms (see reserve_seq).
local function born_of(rec)
  return math.floor(tonumber(string.sub(rec, 1, SEQ_WIDTH)) / 1000)
end

-- A new lease-entry number from the last one. Entries never run below now_ms * 1000, so
-- that if Redis loses recent writes (AOF everysec, a failover to a lagging replica) and
-- the counter rolls back, the next entries still differ from every one issued before
-- the loss: a lease string is never handed out twice. (Exact in a double until 2255.)
local function next_entry_after(last, now)
  return math.max(tonumber(last or '0') + 1, math.floor(now * 1000))
end

-- Lowers q's due time to `at` if that is earlier: call it whenever a score earlier than
-- every other may have been added to delayed, leases or ttl outside maintenance.
local function lower_due(q, at)
  local due = tonumber(redis.call('HGET', q.meta, 'due') or '0')
  if at < due then redis.call('HSET', q.meta, 'due', int_str(at)) end
end

local function parse_entry(info)
  local p1 = string.find(info, '|', 1, true)
  local p2 = string.find(info, '|', p1 + 1, true)
  local p3 = string.find(info, '|', p2 + 1, true)
  return tonumber(string.sub(info, 1, p1 - 1)), string.sub(info, p1 + 1, p2 - 1) == '1',
    string.sub(info, p2 + 1, p3 - 1), string.sub(info, p3 + 1)
end

local function drop_entry(q, entry)
  redis.call('ZREM', q.leases, entry)
  -- a task claim's entry is also found by its claim token (see tasks/claim.lua)
  local token = redis.call('HGET', q.entries, entry .. ':c')
  if token then
    redis.call('HDEL', q.entries, entry, entry .. ':n', entry .. ':c', 'c:' .. token)
  else
    redis.call('HDEL', q.entries, entry, entry .. ':n')
  end
end

-- Lowers an entry's live count; an entry with no live lease left is removed.
local function release_from_entry(q, entry, n)
  if n <= 0 then return end
  local left = redis.call('HINCRBY', q.entries, entry .. ':n', -n)
  if left <= 0 then drop_entry(q, entry) end
end

--@include dedupe

-- The next `count` visible records of q in delivery order (priority desc, seq asc),
-- merging the ready list with the sorted set; removes them when `remove` is true.
-- Only sorted-set records can have a ttl; when more expirations were due than one
-- maintenance step drops, `now` makes take skip (and, removing, drop) the expired ones,
-- reading on through the sorted set past them, so that a visible record behind them
-- still comes before lower priorities. It skips about MAX_ITEMS at most, and returns
-- true as a second value when it stopped there (what it returns is still in order, but
-- may be fewer than `count` records although more are visible).
local function take(q, count, remove, now)
  if redis.call('EXISTS', q.sorted) == 0 then
    if remove then
      return redis.call('LPOP', q.ready, count) or {}
    end
    return redis.call('LRANGE', q.ready, 0, count - 1)
  end
  local ttl_backlog = #redis.call('ZRANGEBYSCORE', q.ttl, '-inf', now, 'LIMIT', 0, 1) > 0
  local zs = redis.call('ZRANGE', q.sorted, 0, count - 1, 'WITHSCORES')
  local ls = redis.call('LRANGE', q.ready, 0, count - 1)
  local out, from_zset, expired = {}, {}, {}
  local zi, li, zfrom, zpage, stopped = 1, 1, 0, count, false
  while #out < count do
    if ttl_backlog and zi > #zs and #zs == 2 * zpage then
      -- this page of the sorted set is used up, partly by skipped expired records: the
      -- next record that can be read may be further on, ahead of the ready list
      if #expired >= MAX_ITEMS then
        stopped = true
        break
      end
      zfrom, zpage = zfrom + zpage, CHUNK
      zs = redis.call('ZRANGE', q.sorted, zfrom, zfrom + zpage - 1, 'WITHSCORES')
      zi = 1
    end
    local zrec, lrec = zs[zi], ls[li]
    if not zrec and not lrec then break end
    local zfirst = zrec and not lrec
    if zrec and lrec then
      -- the list holds priority 0 (score 0); equal scores order by the seq prefix
      local zscore = tonumber(zs[zi + 1])
      zfirst = zscore < 0 or (zscore == 0 and
        string.sub(zrec, 1, SEQ_WIDTH) < string.sub(lrec, 1, SEQ_WIDTH))
    end
    if zfirst then
      local expires_at = ttl_backlog and redis.call('ZSCORE', q.ttl, zrec)
      if expires_at and tonumber(expires_at) <= now then
        expired[#expired + 1] = zrec
      else
        out[#out + 1] = zrec
      end
      from_zset[#from_zset + 1] = zrec
      zi = zi + 2
    else
      out[#out + 1] = lrec
      li = li + 1
    end
  end
  if remove then
    chunked('ZREM', q.sorted, from_zset, 1)
    chunked('ZREM', q.ttl, from_zset, 1)
    if #expired > 0 then
      redis.call('HINCRBY', q.meta, 'expired', #expired)
      if q == Q and dedupe_holding() then dedupe().free_records(expired) end
    end
    if li > 1 then redis.call('LTRIM', q.ready, li - 1, -1) end
  end
  return out, stopped
end

local function visible_count(q)
  return redis.call('LLEN', q.ready) + redis.call('ZCARD', q.sorted)
end

-- Lease groups in ARGV from position `pos`: <group count>, then per group
-- <entry> <n> <item id>*n. Leases are rebuilt here as "<id>:<entry>", so a lease always
-- belongs to the entry it is grouped under, whatever the caller sends.
local function read_groups(pos)
  local groups = {}
  local ngroups = tonumber(ARGV[pos])
  pos = pos + 1
  for _ = 1, ngroups do
    local entry, n = ARGV[pos], tonumber(ARGV[pos + 1])
    local leases = {}
    for k = 1, n do leases[k] = ARGV[pos + 1 + k] .. ':' .. entry end
    groups[#groups + 1] = { entry = entry, leases = leases }
    pos = pos + 2 + n
  end
  return groups
end

local function entry_is_live(q, entry, now)
  local deadline = redis.call('ZSCORE', q.leases, entry)
  return deadline and tonumber(deadline) > now
end

-- Splits the leases of the given groups into live ones, grouped by their owning entry.
-- Returns { [entry] = { leases... } } and the entry order, plus the inflight records.
-- `has_owners` (whether the owners hash exists) is looked up when nil; `liveness`, if
-- given, caches entry -> live across calls.
local function live_by_owner(q, groups, now, has_owners, liveness)
  if has_owners == nil then has_owners = redis.call('EXISTS', q.owners) == 1 end
  liveness = liveness or {}
  local by_owner, order, records = {}, {}, {}
  for _, g in ipairs(groups) do
    local recs = redis.call('HMGET', q.inflight, unpack(g.leases))
    local owners = has_owners and redis.call('HMGET', q.owners, unpack(g.leases)) or {}
    for j, lease in ipairs(g.leases) do
      local rec = recs[j]
      if rec and not records[lease] then
        local owner = owners[j] or g.entry
        if liveness[owner] == nil then liveness[owner] = entry_is_live(q, owner, now) or false end
        if liveness[owner] then
          records[lease] = rec
          if not by_owner[owner] then
            by_owner[owner] = {}
            order[#order + 1] = owner
          end
          table.insert(by_owner[owner], lease)
        end
      end
    end
  end
  return by_owner, order, records
end

-- Whether the queue has ordered-group state (KEYS[25], group-held, exists): an item of a
-- group is out, delayed or dead-lettered, or a group waits. One EXISTS per call at most,
-- and only on the paths that settle leases (see lib/groups.lua).
local groups_present
local function has_groups()
  if groups_present == nil then groups_present = redis.call('EXISTS', KEYS[25]) == 1 end
  return groups_present
end

-- The ordered-groups library (lib/groups.lua), defined on first use only: only the steps
-- that meet a grouped queue call it.
local groups_lib
local function group_lib()
  if not groups_lib then
    groups_lib = (function()
--@include groups
    end)()
  end
  return groups_lib
end

-- The timer library (lib/timers.lua), defined on first use only.
local timers_lib
local function timers()
  if not timers_lib then
    timers_lib = (function()
--@include timers
    end)()
  end
  return timers_lib
end

-- Brings q up to date with time if anything can have come due (see meta.due).
local function maintain_if_due(q, dq, now)
  local due = tonumber(redis.call('HGET', q.meta, 'due') or '0')
  if now >= due then timers().maintain(q, dq, now) end
end

-- Rate limits, in-flight caps and pauses (lib/limits.lua), defined on first use only.
local limits_lib
local function limits()
  if not limits_lib then
    limits_lib = (function()
--@include limits
    end)()
  end
  return limits_lib
end

-- A lease of Q ended (done, release, fail): wakes the readers waiting for a slot under
-- maxInflight (meta.lim_w, see lib/limits.lua) through the limit signal. `waiting` is
-- meta.lim_w when the caller has read it already (false: absent), nil to read it here.
local function wake_slot_waiters(waiting)
  if waiting == nil then waiting = redis.call('HGET', Q.meta, 'lim_w') end
  if waiting then
    redis.call('HDEL', Q.meta, 'lim_w')
    signal(D)
  end
end
