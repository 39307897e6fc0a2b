--[[
  The data-queue operations as functions of the queue Q (with its dead-letter queue D):
  read a batch, finish, refresh and release leases. The data scripts (get, done, refresh,
  release) are thin wrappers around them; the task scripts compose them with the changes
  of their records, so that a task step is one atomic script too. Pasted where a script
  says `--@include ops`, after `--@include queue`, whose locals it uses.
]]

-- The metadata of item i of a put (see lib/queue.lua's record): `metas` holds none (no
-- item has any), one (every item's) or one per item.
local function meta_of(metas, i)
  if #metas == 1 then return metas[1] end
  return metas[i] or ''
end

-- Stores items in Q with the payloads given, in order, and returns their ids: `ids` when
-- given (the task layer's task ids), else new ones "<gen>-<seq>" (see put.lua). `metas`:
-- the items' metadata (see meta_of).
local function put_items(payloads, ids, delay, priority, ttl, now, metas)
  local n = #payloads
  local gen, first = reserve_seq(Q, n, now, 'puts')
  local out = {}
  for i = 1, n do out[i] = ids and ids[i] or gen .. '-' .. int_str(first + i - 1) end
  if delay == 0 and priority == 0 and ttl == 0 then
    -- the fast path: plain items go straight to the end of the ready list
    local recs = {}
    if #metas == 0 then
      for i = 1, n do recs[i] = seq_str(first + i - 1) .. '|' .. out[i] .. '|0|0|0||' .. payloads[i] end
    else
      for i = 1, n do
        recs[i] = seq_str(first + i - 1) .. '|' .. out[i] .. '|0|0|0|' .. meta_of(metas, i) .. '|' .. payloads[i]
      end
    end
    chunked('RPUSH', Q.ready, recs, 1)
  else
    local recs = {}
    for i = 1, n do
      recs[i] = {
        seq = seq_str(first + i - 1), id = out[i], deliveries = 0, priority = priority, ttl = ttl,
        meta = meta_of(metas, i), payload = payloads[i], fresh = true,
      }
    end
    local earliest = timers().enqueue(Q, recs, now + delay, now, true)
    if earliest then lower_due(Q, earliest) end
  end
  signal(Q)
  return out
end

-- Delivers up to `count` visible records of Q, highest priority first, then oldest (see
-- get.lua). With vis_ms > 0 each item gets a lease "<id>:<entry>" under one new entry
-- whose deadline is now + vis_ms; `attempts` and `use_dead` (strings, as get.lua's ARGV)
-- are what happens once an item's attempts are spent. Returns the records, the entry ('',
-- and no leases, at vis_ms 0) and the item ids; with nothing visible, no records and the
-- wait hints: ms until the next delayed item or lease deadline comes due (-1: none; 0 when
-- the read stopped in a burst of expired records, see take) and the signal stream's last id.
-- `limit_arg`: the reader's limits as the script got them (lib/limits.lua parse_limits),
-- '' or nil for none; a read a pause or a limit holds back returns no records, the ms
-- until that can end, the limit signal's cursor ('' for the rate limit) and the reason
-- ('p', 'i' or 'r', see gate_read).
local function read_batch(count, vis_ms, attempts, use_dead, now, limit_arg)
  -- one read of meta serves the maintenance check, the next entry number and the delivery
  -- count (maintenance changes neither of those two), so that a leased read writes meta once;
  -- the pause (lib/limits.lua) and whether the queue had grouped puts, at no extra command
  local meta = redis.call('HMGET', Q.meta, 'due', 'entry', 'gen', 'deliveries', 'v', 'paused', 'groups')
  if meta[3] then check_format(meta[5]) end
  local due = tonumber(meta[1] or '0')
  if now >= due then
    timers().maintain(Q, D, now)
    due = tonumber(redis.call('HGET', Q.meta, 'due') or '0')
  end
  -- limits (lib/limits.lua), only for a limited read or a paused queue: fewer items, or
  -- none, with the reason and when it can end
  local lim, tat = nil, nil
  if (limit_arg and limit_arg ~= '') or meta[6] then
    lim = limits().parse_limits(limit_arg)
    local allowed, got, limit_wait, limit_wait_cursor = limits().gate_read(count, lim, meta[6], now)
    -- held back, it did not look for items: not counted as an empty read
    if allowed == 0 then return {}, '', {}, limit_wait, limit_wait_cursor, got end
    count, tat = allowed, got
  end
  local recs, stopped = take(Q, count, true, now)
  -- a queue that had grouped puts (meta.groups): ready groups fill the rest, round-robin
  -- (their items' leases will be under the entry computed below, from the same meta and now)
  if meta[7] and #recs < count then
    group_lib().take_runs(recs, count - #recs, vis_ms > 0 and int_str(next_entry_after(meta[2], now)) or nil)
  end
  -- tokens are spent for what was taken, grouped items included
  if tat and #recs > 0 then limits().spend_tokens(lim, tat, #recs) end

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
    return recs, '', {}, wait_ms, last[1] and last[1][1] or '0-0'
  end

  if vis_ms <= 0 then
    redis.call('HINCRBY', Q.meta, 'deliveries', #recs)
    -- read at most once: the items are gone, and so are the keys they held until done
    if dedupe_holding() then dedupe().free_records(recs) end
    return recs, '', {}
  end

  local entry = int_str(next_entry_after(meta[2], now))
  local deadline = now + vis_ms
  local fields, ids = {}, {}
  for i, rec in ipairs(recs) do
    local id = id_of(rec)
    ids[i] = id
    fields[2 * i - 1] = id .. ':' .. entry
    fields[2 * i] = rec
  end
  redis.call('HSET', Q.inflight, unpack(fields))
  redis.call('HSET', Q.entries, entry, attempts .. '|' .. use_dead .. '|b|' .. table.concat(ids, ','),
    entry .. ':n', #recs)
  redis.call('ZADD', Q.leases, deadline, entry)
  local deliveries = int_str(tonumber(meta[4] or '0') + #recs)
  if deadline < due then
    redis.call('HSET', Q.meta, 'entry', entry, 'deliveries', deliveries, 'due', int_str(deadline))
  else
    redis.call('HSET', Q.meta, 'entry', entry, 'deliveries', deliveries)
  end
  return recs, entry, ids
end

-- Finishes the items whose current delivery is one of the leases of `groups` (see
-- read_groups): they are deleted for good and counted in meta.dones. Returns how many,
-- and with `report` the leases finished. Stale leases change nothing.
local function finish_leases(groups, now, report)
  local finished, done_leases = 0, {}
  -- one EXISTS for both refreshed leases (owners) and ordered groups (group-held): a queue
  -- with neither makes no other call for them; one with groups asks which it has
  local extra = redis.call('EXISTS', Q.owners, KEYS[25])
  if extra == 0 then
    groups_present = false
  elseif not report then
    extra = redis.call('EXISTS', Q.owners)
    if extra == 0 then groups_present = true end
  end
  -- one read of meta for the flags a done needs: keys held until done (they need the
  -- finished ids: then the exact path below, dedupe.lua) and readers waiting for a slot
  local flags = redis.call('HMGET', Q.meta, 'dedupe_done', 'lim_w')
  dedupe_done_flag = flags[1] == '1'
  if not report and extra == 0 and not dedupe_done_flag then
    -- the common case: no refreshed leases, every lease belongs to its own batch entry
    local live = {}
    for _, g in ipairs(groups) do
      if entry_is_live(Q, g.entry, now) then
        local n = redis.call('HDEL', Q.inflight, unpack(g.leases))
        release_from_entry(Q, g.entry, n)
        finished = finished + n
        if n > 0 then live[#live + 1] = g end
      end
    end
    -- items of ordered groups leave them; their groups go on (lib/groups.lua)
    if #live > 0 and groups_present then group_lib().finished_live(live) end
  else
    local by_owner, order = live_by_owner(Q, groups, now)
    for _, owner in ipairs(order) do
      local leases = by_owner[owner]
      redis.call('HDEL', Q.inflight, unpack(leases))
      redis.call('HDEL', Q.owners, unpack(leases))
      release_from_entry(Q, owner, #leases)
      finished = finished + #leases
      for _, lease in ipairs(leases) do done_leases[#done_leases + 1] = lease end
    end
    if #done_leases > 0 and has_groups() then group_lib().finished(done_leases) end
  end
  if finished > 0 then
    redis.call('HINCRBY', Q.meta, 'dones', finished)
    wake_slot_waiters(flags[2])
  end
  if #done_leases > 0 and dedupe_done_flag then dedupe().free_leases(done_leases) end
  return finished, done_leases
end

-- Extends the live leases among `groups` to `deadline`. When every live lease of an entry
-- is extended, the entry's deadline moves; otherwise the extended leases move to a new
-- refresh entry (owners records it) that keeps the attempts and dead-letter setting of
-- the entry they came from. A refresh that shortens a lease appends to the signal stream,
-- and to the dead-letter queue's when the lease's entry dead-letters: blocked readers
-- computed their wait from the deadlines they saw, so they read again and wait for the
-- new one. Returns the leases extended.
local function refresh_leases(groups, deadline, now)
  local by_owner, order = live_by_owner(Q, groups, now)
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
end

-- Ends the live deliveries among `groups` without done (see release.lua for the modes:
-- 'count', 'keep', 'unread', 'fail'). `dead` is, for 'fail', whether to dead-letter.
-- Returns { lease_1, outcome_1, ... } for the live leases, outcome 'requeued', 'dead' or
-- 'dropped'. Maintenance runs first, so deliveries that ended earlier are settled before these.
local function release_leases(groups, mode, delay_ms, dead, now)
  local visible_at = now + delay_ms
  maintain_if_due(Q, D, now)
  local count_delivery = mode ~= 'keep' and mode ~= 'unread'
  local by_owner, order, records = live_by_owner(Q, groups, now)
  local out, dead_batch, requeued, earliest = {}, {}, false, nil
  if has_groups() then
    local leases = {}
    for lease in pairs(records) do leases[#leases + 1] = lease end
    group_lib().prefetch_leases(leases)
  end

  for _, owner in ipairs(order) do
    local leases = by_owner[owner]
    local attempts, use_dead = parse_entry(redis.call('HGET', Q.entries, owner))
    if mode == 'fail' then
      -- one more failed delivery than the record has spends the attempts whatever they are
      attempts = 0
      use_dead = dead
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
  if dedupe_lib then dedupe_lib.flush() end
  if mode == 'unread' and #out > 0 then redis.call('HINCRBY', Q.meta, 'deliveries', -#out / 2) end
  timers().append_dead(D, dead_batch, now)
  if groups_lib then groups_lib.flush() end
  if earliest then lower_due(Q, earliest) end
  if requeued then signal(Q) end
  if #out > 0 then wake_slot_waiters() end
  return out
end
