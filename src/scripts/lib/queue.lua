--[[
  Shared core of every visq script. The loader pastes this file where a script says
  `--@include queue`, so each script stays one atomic EVALSHA.

  KEYS (the same 20 for every script, see src/data/keys.ts):
    KEYS[1..10]  the queue itself     KEYS[11..20] its dead-letter queue
    +1 meta      hash: gen (id prefix of this key epoch), seq (last item seq),
                 entry (last lease-entry number, never below now_ms * 1000), expired,
                 dropped
    +2 ready     list: records with priority 0 and no ttl, in seq order (the fast path)
    +3 sorted    zset: every other visible record, score = -priority; ties order by
                 member, and a member starts with its fixed-width seq, so by seq
    +4 delayed   zset: hidden records, score = visible-at (ms)
    +5 ttl       zset: visible records that have a ttl, score = expires-at (ms)
    +6 inflight  hash: lease -> record, one field per live delivery
    +7 owners    hash: lease -> entry, only for leases moved to a refresh entry
    +8 leases    zset: entry -> deadline (ms); one entry per read batch or refresh
    +9 entries   hash: <entry> -> "attempts|useDead|kind|list", <entry>:n -> live count
   +10 signal    stream (MAXLEN 1): every put appends, waking blocked readers

  Record: "seq|id|deliveries|priority|ttlMs|payload", seq zero-padded to 16 digits so
  that byte order is seq order. deliveries counts the deliveries that ended without
  done; the current delivery is deliveries + 1. The payload is opaque.

  Lease: "<id>:<entry>". An entry of kind "b" (read batch) lists item ids; a lease belongs
  to it unless owners says otherwise. An entry of kind "r" (refresh) lists whole leases.

  Invariants kept by every script:
    - a record is in exactly one of ready / sorted / delayed / inflight (or gone);
    - the ready list is sorted by seq, and every record in it has priority 0 and no ttl;
    - a lease is live iff it is an inflight field and its owning entry's deadline > now;
      once the deadline passes the lease is stale even before a script requeues it.
]]

local SEQ_WIDTH = 16
-- Bounded maintenance per call (the next call continues): about MAX_ITEMS items per
-- step (expired leases, promoted delays, ttl drops). Generous, so that only a
-- pathological burst of due items can exceed it; small enough to keep a script short.
local MAX_ITEMS = 20000
local CHUNK = 1000 -- arguments per variadic call, well inside Lua's unpack limit

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

--@include clock

local function int_str(n)
  return string.format('%d', n)
end

local function seq_str(n)
  return string.format('%016d', n)
end

local function parse_record(rec)
  local p1 = string.find(rec, '|', 1, true)
  local p2 = string.find(rec, '|', p1 + 1, true)
  local p3 = string.find(rec, '|', p2 + 1, true)
  local p4 = string.find(rec, '|', p3 + 1, true)
  local p5 = string.find(rec, '|', p4 + 1, true)
  return {
    seq = string.sub(rec, 1, p1 - 1),
    id = string.sub(rec, p1 + 1, p2 - 1),
    deliveries = tonumber(string.sub(rec, p2 + 1, p3 - 1)),
    priority = tonumber(string.sub(rec, p3 + 1, p4 - 1)),
    ttl = tonumber(string.sub(rec, p4 + 1, p5 - 1)),
    payload = string.sub(rec, p5 + 1),
  }
end

local function build_record(seq, id, deliveries, priority, ttl, payload)
  return seq .. '|' .. id .. '|' .. int_str(deliveries) .. '|' .. int_str(priority)
    .. '|' .. int_str(ttl) .. '|' .. payload
end

-- The id of a record; its seq has fixed width, so the id starts at SEQ_WIDTH + 2.
local function id_of(rec)
  return string.sub(rec, SEQ_WIDTH + 2, string.find(rec, '|', SEQ_WIDTH + 2, true) - 1)
end

-- A new lease-entry number. Entries never run below now_ms * 1000, so that if Redis
-- loses recent writes (AOF everysec, a failover to a lagging replica) and the counter
-- rolls back, the next entries still differ from every one issued before the loss:
-- a lease string is never handed out twice. (Exact in a double until the year 2255.)
local function next_entry(q, now)
  local entry = redis.call('HINCRBY', q.meta, 'entry', 1)
  local floor = now * 1000
  if entry < floor then
    entry = floor
    redis.call('HSET', q.meta, 'entry', int_str(entry))
  end
  return entry
end

local function signal(q)
  redis.call('XADD', q.signal, 'MAXLEN', '1', '*', 'v', '1')
end

-- Reserves `n` sequence numbers in q; returns the id prefix and the first seq.
local function reserve_seq(q, n)
  local gen = redis.call('HGET', q.meta, 'gen')
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
    redis.call('HSET', q.meta, 'gen', gen)
  end
  local last = redis.call('HINCRBY', q.meta, 'seq', n)
  return gen, last - n + 1
end

-- Makes records visible in q (or hidden until visible_at when it is later than now).
-- `recs` hold parsed records; a record goes to the ready list only if that keeps the list
-- sorted by seq and it has priority 0 and no ttl, else to the sorted set.
local function enqueue(q, recs, visible_at, now, apply_ttl)
  if #recs == 0 then return end
  if visible_at > now then
    local args = {}
    for _, r in ipairs(recs) do
      args[#args + 1] = visible_at
      args[#args + 1] = build_record(r.seq, r.id, r.deliveries, r.priority, r.ttl, r.payload)
    end
    redis.call('ZADD', q.delayed, unpack(args))
    return
  end
  local list_args, zset_args, ttl_args = {}, {}, {}
  for _, r in ipairs(recs) do
    local ttl = apply_ttl and r.ttl or 0
    local rec = build_record(r.seq, r.id, r.deliveries, r.priority, ttl, r.payload)
    if r.fresh and r.priority == 0 and ttl == 0 then
      list_args[#list_args + 1] = rec
    else
      zset_args[#zset_args + 1] = -r.priority
      zset_args[#zset_args + 1] = rec
      if ttl > 0 then
        ttl_args[#ttl_args + 1] = visible_at + ttl
        ttl_args[#ttl_args + 1] = rec
      end
    end
  end
  if #list_args > 0 then redis.call('RPUSH', q.ready, unpack(list_args)) end
  if #zset_args > 0 then redis.call('ZADD', q.sorted, unpack(zset_args)) end
  if #ttl_args > 0 then redis.call('ZADD', q.ttl, unpack(ttl_args)) end
end

-- Appends records to q with fresh seq numbers (used for dead letters and redrive):
-- new seqs are the largest in q, so priority-0 records may go to the ready list.
local function append_fresh(q, parsed, apply_ttl, now)
  if #parsed == 0 then return end
  local _, first = reserve_seq(q, #parsed)
  for i, r in ipairs(parsed) do
    r.seq = seq_str(first + i - 1)
    r.fresh = true
  end
  enqueue(q, parsed, now, now, apply_ttl)
  signal(q)
end

-- Dead letters enter the dead-letter queue in the order their last deliveries ended,
-- then put order. Every step handles all that ended by its time, so this order does not
-- depend on which call happened to notice an expiry.
local function append_dead(dq, dead_batch, now)
  table.sort(dead_batch, function(a, b)
    if a.ended ~= b.ended then return a.ended < b.ended end
    return a.seq < b.seq
  end)
  append_fresh(dq, dead_batch, false, now)
end

-- Ends one delivery of `rec` that was not done, at time `ended` (a lease deadline, or
-- now). count_delivery=false returns the item without using an attempt. Returns
-- 'requeued' (visible again at visible_at), 'dead' or 'dropped'.
local function settle_undone(q, dq, rec, attempts, use_dead, ended, visible_at, now, count_delivery, dead_batch)
  local r = parse_record(rec)
  if count_delivery then r.deliveries = r.deliveries + 1 end
  if count_delivery and r.deliveries >= attempts then
    if use_dead and dq then
      r.deliveries = 0
      r.ttl = 0
      r.ended = ended
      dead_batch[#dead_batch + 1] = r
      return 'dead'
    end
    redis.call('HINCRBY', q.meta, 'dropped', 1)
    return 'dropped'
  end
  enqueue(q, { r }, visible_at, now, true)
  return 'requeued'
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
  redis.call('HDEL', q.entries, entry, entry .. ':n')
end

-- Lowers an entry's live count; an entry with no live lease left is removed.
local function release_from_entry(q, entry, n)
  if n <= 0 then return end
  local left = redis.call('HINCRBY', q.entries, entry .. ':n', -n)
  if left <= 0 then drop_entry(q, entry) end
end

local function entry_leases(entry, kind, list)
  local leases = {}
  if kind == 'b' then
    for id in string.gmatch(list, '[^,]+') do leases[#leases + 1] = id .. ':' .. entry end
  else
    for lease in string.gmatch(list, '[^,]+') do leases[#leases + 1] = lease end
  end
  return leases
end

-- Requeues, dead-letters or drops the live leases of entries whose deadline has passed.
local function expire_leases(q, dq, now)
  local due = redis.call('ZRANGEBYSCORE', q.leases, '-inf', now, 'WITHSCORES', 'LIMIT', 0, MAX_ITEMS)
  if #due == 0 then return end
  local has_owners = redis.call('EXISTS', q.owners) == 1
  local dead_batch, handled = {}, 0
  for i = 1, #due, 2 do
    -- an entry holds up to 1000 leases: stop once about MAX_ITEMS were looked at
    if handled >= MAX_ITEMS then break end
    local entry, deadline = due[i], tonumber(due[i + 1])
    local info = redis.call('HGET', q.entries, entry)
    if info then
      local attempts, use_dead, kind, list = parse_entry(info)
      local leases = entry_leases(entry, kind, list)
      handled = handled + #leases
      local recs = redis.call('HMGET', q.inflight, unpack(leases))
      local owners = has_owners and redis.call('HMGET', q.owners, unpack(leases)) or {}
      local expired, owned = {}, {}
      for j, lease in ipairs(leases) do
        local rec, owner = recs[j], owners[j]
        if rec and (owner == entry or (not owner and kind == 'b')) then
          expired[#expired + 1] = lease
          if owner then owned[#owned + 1] = lease end
          settle_undone(q, dq, rec, attempts, use_dead, deadline, deadline, now, true, dead_batch)
        end
      end
      if #expired > 0 then redis.call('HDEL', q.inflight, unpack(expired)) end
      if #owned > 0 then redis.call('HDEL', q.owners, unpack(owned)) end
    end
    drop_entry(q, entry)
  end
  if dq then append_dead(dq, dead_batch, now) end
end

-- Calls `command key <args>` in chunks of CHUNK items (`per` arguments per item).
local function chunked(command, key, args, per)
  local step = CHUNK * per
  for i = 1, #args, step do
    redis.call(command, key, unpack(args, i, math.min(i + step - 1, #args)))
  end
end

local function promote_due(q, now)
  local due = redis.call('ZRANGEBYSCORE', q.delayed, '-inf', now, 'WITHSCORES', 'LIMIT', 0, MAX_ITEMS)
  if #due == 0 then return end
  local members, zset_args, ttl_args = {}, {}, {}
  for i = 1, #due, 2 do
    local rec, visible_at = due[i], tonumber(due[i + 1])
    members[#members + 1] = rec
    -- a promoted record is never fresh (items put after it may be in the ready list),
    -- so it goes to the sorted set, with a ttl window from when it became visible
    local r = parse_record(rec)
    zset_args[#zset_args + 1] = -r.priority
    zset_args[#zset_args + 1] = rec
    if r.ttl > 0 then
      ttl_args[#ttl_args + 1] = visible_at + r.ttl
      ttl_args[#ttl_args + 1] = rec
    end
  end
  chunked('ZREM', q.delayed, members, 1)
  chunked('ZADD', q.sorted, zset_args, 2)
  chunked('ZADD', q.ttl, ttl_args, 2)
end

local function drop_expired_ttl(q, now)
  local gone = redis.call('ZRANGEBYSCORE', q.ttl, '-inf', now, 'LIMIT', 0, MAX_ITEMS)
  if #gone == 0 then return end
  local removed = 0
  for i = 1, #gone, CHUNK do
    removed = removed + redis.call('ZREM', q.sorted, unpack(gone, i, math.min(i + CHUNK - 1, #gone)))
  end
  chunked('ZREM', q.ttl, gone, 1)
  if removed > 0 then redis.call('HINCRBY', q.meta, 'expired', removed) end
end

-- Brings q up to date with time: due delayed items become visible, expired leases end,
-- items past their ttl go. Order matters: promoted and requeued items get ttl entries
-- first, so that the ttl sweep sees them.
local function maintain(q, dq, now)
  promote_due(q, now)
  expire_leases(q, dq, now)
  drop_expired_ttl(q, now)
end

-- The next `count` visible records of q in delivery order (priority desc, seq asc),
-- merging the ready list with the sorted set; removes them when `remove` is true.
-- Only sorted-set records can have a ttl; when more expirations were due than one
-- maintenance step drops, `now` makes take skip (and, removing, drop) the expired ones.
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
  local zi, li = 1, 1
  while #out < count do
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
    if #from_zset > 0 then
      redis.call('ZREM', q.sorted, unpack(from_zset))
      redis.call('ZREM', q.ttl, unpack(from_zset))
    end
    if #expired > 0 then redis.call('HINCRBY', q.meta, 'expired', #expired) end
    if li > 1 then redis.call('LTRIM', q.ready, li - 1, -1) end
  end
  return out
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
local function live_by_owner(q, groups, now)
  local has_owners = redis.call('EXISTS', q.owners) == 1
  local by_owner, order, records, liveness = {}, {}, {}, {}
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
