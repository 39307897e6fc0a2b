--[[
  The timer machinery shared by the data-queue scripts: maintenance (due delayed items
  become visible, expired leases are requeued / dead-lettered / dropped, ttl-expired
  items go), requeueing, dead letters. Pasted by lib/queue.lua inside a function that
  only the calls needing it run, so the hot paths do not pay for defining all this.
  It sees the locals of lib/queue.lua (Q, D, MAX_ITEMS, chunked, int_str, lower_due, ...).
]]

local function parse_record(rec)
  local p1 = string.find(rec, '|', 1, true)
  local p2 = string.find(rec, '|', p1 + 1, true)
  local p3 = string.find(rec, '|', p2 + 1, true)
  local p4 = string.find(rec, '|', p3 + 1, true)
  local p5 = string.find(rec, '|', p4 + 1, true)
  local p6 = string.find(rec, '|', p5 + 1, true)
  return {
    seq = string.sub(rec, 1, p1 - 1),
    id = string.sub(rec, p1 + 1, p2 - 1),
    deliveries = tonumber(string.sub(rec, p2 + 1, p3 - 1)),
    priority = tonumber(string.sub(rec, p3 + 1, p4 - 1)),
    ttl = tonumber(string.sub(rec, p4 + 1, p5 - 1)),
    meta = string.sub(rec, p5 + 1, p6 - 1),
    payload = string.sub(rec, p6 + 1),
  }
end

-- `r` as parse_record returns it; the metadata travels with the item wherever it goes
-- (requeue, dead letter, redrive).
local function build_record(r, ttl)
  return r.seq .. '|' .. r.id .. '|' .. int_str(r.deliveries) .. '|' .. int_str(r.priority)
    .. '|' .. int_str(ttl) .. '|' .. r.meta .. '|' .. r.payload
end

-- Makes records visible in q (or hidden until visible_at when it is later than now).
-- `recs` hold parsed records; a record goes to the ready list only if that keeps the list
-- sorted by seq and it has priority 0 and no ttl, else to the sorted set.
-- Returns the earliest score it added to delayed or ttl (or nil): a caller outside
-- maintenance lowers q's due time with it.
local function enqueue(q, recs, visible_at, now, apply_ttl)
  if #recs == 0 then return nil end
  if visible_at > now then
    local args = {}
    for _, r in ipairs(recs) do
      args[#args + 1] = visible_at
      args[#args + 1] = build_record(r, r.ttl)
    end
    chunked('ZADD', q.delayed, args, 2)
    return visible_at
  end
  local earliest = nil
  local list_args, zset_args, ttl_args = {}, {}, {}
  for _, r in ipairs(recs) do
    local ttl = apply_ttl and r.ttl or 0
    local rec = build_record(r, ttl)
    if r.fresh and r.priority == 0 and ttl == 0 then
      list_args[#list_args + 1] = rec
    else
      zset_args[#zset_args + 1] = -r.priority
      zset_args[#zset_args + 1] = rec
      if ttl > 0 then
        ttl_args[#ttl_args + 1] = visible_at + ttl
        ttl_args[#ttl_args + 1] = rec
        earliest = math.min(earliest or NEVER, visible_at + ttl)
      end
    end
  end
  -- dead letters and redrive bring batches of any size (mass lease expiry, failData)
  chunked('RPUSH', q.ready, list_args, 1)
  chunked('ZADD', q.sorted, zset_args, 2)
  chunked('ZADD', q.ttl, ttl_args, 2)
  return earliest
end

-- Appends records to q with fresh seq numbers (used for dead letters and redrive):
-- new seqs are the largest in q, so priority-0 records may go to the ready list.
local function append_fresh(q, parsed, apply_ttl, now)
  if #parsed == 0 then return end
  local _, first = reserve_seq(q, #parsed, now)
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

-- Running totals of q kept in its meta hash, for stats() and metrics: one HINCRBY per
-- batch, never per item on the hot paths.
local function count(q, field, n)
  if n > 0 then redis.call('HINCRBY', q.meta, field, n) end
end

-- Ends one delivery of `rec` that was not done, at time `ended` (a lease deadline, or
-- now). count_delivery=false returns the item without using an attempt. Returns
-- 'requeued' (visible again at visible_at), 'dead' or 'dropped', and for 'requeued' the
-- earliest timer score it added (see enqueue).
local function settle_undone(q, dq, rec, attempts, use_dead, ended, visible_at, now, count_delivery, dead_batch)
  local r = parse_record(rec)
  -- an item of an ordered group goes back to its group's head (lib/groups.lua)
  local group = q == Q and has_groups() and group_lib().leased_group(r.id)
  if count_delivery then r.deliveries = r.deliveries + 1 end
  if count_delivery and r.deliveries >= attempts then
    if group then group_lib().ended(r, group, use_dead and dq ~= nil) end
    if use_dead and dq then
      r.deliveries = 0
      r.ttl = 0
      r.ended = ended
      dead_batch[#dead_batch + 1] = r
      if q == Q and dedupe_holding() then dedupe().note(r.id) end
      return 'dead'
    end
    redis.call('HINCRBY', q.meta, 'dropped', 1)
    if q == Q and dedupe_holding() then dedupe().note(r.id) end
    return 'dropped'
  end
  if group then return 'requeued', group_lib().requeue(r, group, visible_at, now) end
  return 'requeued', enqueue(q, { r }, visible_at, now, true)
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
  local dead_batch, handled, expiries = {}, 0, 0
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
      if q == Q and has_groups() then group_lib().prefetch_leases(leases) end
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
      expiries = expiries + #expired
    end
    drop_entry(q, entry)
  end
  count(q, 'expiries', expiries)
  if dedupe_lib then dedupe_lib.flush() end
  if dq then
    count(q, 'dead_lettered', #dead_batch)
    append_dead(dq, dead_batch, now)
  end
end

local function promote_due(q, now)
  local due = redis.call('ZRANGEBYSCORE', q.delayed, '-inf', now, 'WITHSCORES', 'LIMIT', 0, MAX_ITEMS)
  if #due == 0 then return end
  local members, zset_args, ttl_args = {}, {}, {}
  -- items of ordered groups join their groups instead (lib/groups.lua); the rest as always
  if q == Q and has_groups() then due = group_lib().promote(due, members) end
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
  local removed = chunked('ZREM', q.sorted, gone, 1)
  chunked('ZREM', q.ttl, gone, 1)
  if q == Q and dedupe_holding() then dedupe().free_records(gone) end
  if removed > 0 then redis.call('HINCRBY', q.meta, 'expired', removed) end
end

-- Sets q's due time to its earliest timer. A queue with no key yet is left without one,
-- so that looking at an empty queue creates nothing.
local function recompute_due(q)
  local due = NEVER
  for _, key in ipairs({ q.delayed, q.leases, q.ttl }) do
    local first = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
    if first[2] then due = math.min(due, tonumber(first[2])) end
  end
  if due < NEVER or redis.call('EXISTS', q.meta) == 1 then
    redis.call('HSET', q.meta, 'due', int_str(due))
  end
end

-- Brings q up to date with time: due delayed items become visible, expired leases end,
-- items past their ttl go. Order matters: promoted and requeued items get ttl entries
-- first, so that the ttl sweep sees them.
local function maintain(q, dq, now)
  promote_due(q, now)
  expire_leases(q, dq, now)
  drop_expired_ttl(q, now)
  recompute_due(q)
  if groups_lib then groups_lib.flush() end
end


return {
  maintain = maintain, enqueue = enqueue, append_fresh = append_fresh,
  append_dead = append_dead, settle_undone = settle_undone, parse_record = parse_record,
  count = count,
}
