--[[
  Ordered groups (docs/groups.md): items of one group are delivered in put order, and a
  group with an item out (leased, or hidden by a release delay) is held: nobody gets its
  next item until that one is done, or is back at the head of the group. Pasted by
  lib/queue.lua inside `group_lib()`, which only the calls that meet a grouped queue
  run: a queue that never had a grouped put pays nothing for this file. It sees the
  locals of lib/queue.lua (Q, KEYS, CHUNK, signal). It names no other function of
  lib/queue.lua, lib/ops.lua or lib/timers.lua, and none of its own functions share
  their names: the script assembler keeps every top-level function a kept text names
  (scripts/assemble.ts), and this text is kept wherever a hook calls group_lib(), so a
  name used here would make the plain done and get define it on every call. Hence its
  own small helpers (g_int, g_chunked), its functions are named g_*, and the put and
  listing code lives in group_put.lua and groups.lua.

  KEYS[23] group-items  zset, every score 0: "<group>\0<record>" for each visible item of
                        a group that waits for its turn. Records start with their
                        fixed-width seq, so ZRANGEBYLEX [<group>\0 (<group>\1 is the
                        group's head run in put order (a group never contains "\0").
  KEYS[24] group-ready  list: the round-robin of groups that have items waiting, nothing
                        out and are not blocked; each such group is in it exactly once.
  KEYS[25] group-held   hash:
             g:<group>  state: 'r' (in group-ready), else "<out>[m][b]": <out> items of
                        the group are out; m: items wait in group-items; b: blocked by a
                        dead-lettered head (onDead 'block'). No field: nothing waits,
                        nothing is out, not blocked.
             e:<entry>  the grouped items a read batch leased that are still out, as runs
                        "<group>\1<id>,<id>,...\2" in read order: one field per batch, so
                        that a read writes and a done reads one field, not one per item.
                        An id listed here is out under that entry's lease (a done, expiry
                        or release removes it), so a done of a live entry finishes exactly
                        the listed ids it names, without reading inflight.
             i:<id>     where a grouped item is while it is neither waiting nor leased:
                        "h<group>" hidden by a release delay (it still
                        holds its group); "d<group>" hidden by a put delay (joins its
                        group when due); "x<seq>\0<group>" dead-lettered (a redrive puts
                        it back in its group at its put seq).
  Q.meta field groups: 'skip' or 'block' (what a dead-lettered head does), set by every
  grouped put; a queue without it has never had one.

  Every change goes through the state cache below and is written by flush(), once per
  step, in few variadic calls; the groups that became ready are appended to group-ready
  in the order they became ready.
]]

local GI, GR, GH = KEYS[23], KEYS[24], KEYS[25]
local states, dirty, dirty_order, pushes = {}, {}, {}, {}
local gi_adds, item_sets, item_dels = {}, {}, {}
local known = {}
local mode_cache
-- entry -> { map = { id -> group }, order = { id, ... }, changed }: e: fields read so far
local batches = {}
-- id -> entry, for the leases about to be settled (see g_prefetch_leases)
local lease_entry = {}

local function g_int(n)
  return string.format('%d', n)
end

-- As chunked in lib/queue.lua: a variadic call in slices that Lua can unpack.
local function g_chunked(command, key, args, per)
  local step = CHUNK * per
  for i = 1, #args, step do
    redis.call(command, key, unpack(args, i, math.min(i + step - 1, #args)))
  end
end

local function g_hmget_all(key, fields)
  local out = {}
  for i = 1, #fields, CHUNK do
    local part = redis.call('HMGET', key, unpack(fields, i, math.min(i + CHUNK - 1, #fields)))
    for j = 1, #part do out[i + j - 1] = part[j] end
  end
  return out
end

local function g_decode(v)
  if not v then return { out = 0, more = false, blocked = false, ready = false } end
  if v == 'r' then return { out = 0, more = true, blocked = false, ready = true } end
  return {
    out = tonumber(string.match(v, '^%d+')),
    more = string.find(v, 'm', 1, true) ~= nil,
    blocked = string.find(v, 'b', 1, true) ~= nil,
    ready = false,
  }
end

local function g_encode(s)
  if s.ready then return 'r' end
  if s.out == 0 and not s.more and not s.blocked then return nil end
  return g_int(s.out) .. (s.more and 'm' or '') .. (s.blocked and 'b' or '')
end

-- Reads the states of the groups `gs` not cached yet, in one call per CHUNK.
local function g_load(gs)
  local names, fields, seen = {}, {}, {}
  for _, g in ipairs(gs) do
    if not states[g] and not seen[g] then
      seen[g] = true
      names[#names + 1] = g
      fields[#fields + 1] = 'g:' .. g
    end
  end
  if #fields == 0 then return end
  local values = g_hmget_all(GH, fields)
  for i, g in ipairs(names) do states[g] = g_decode(values[i]) end
end

local function g_state_of(g)
  if not states[g] then g_load({ g }) end
  return states[g]
end

-- Marks g's state changed; a group with items waiting, nothing out and no block becomes
-- ready: it joins the end of the round-robin.
local function g_touch(g)
  local s = states[g]
  if not dirty[g] then
    dirty[g] = true
    dirty_order[#dirty_order + 1] = g
  end
  if not s.ready and s.out <= 0 and not s.blocked and s.more then
    s.ready = true
    pushes[#pushes + 1] = g
  end
end

-- Looks up the i: fields of `ids` not looked up yet (one call per CHUNK).
local function g_prefetch(ids)
  local need, fields, seen = {}, {}, {}
  for _, id in ipairs(ids) do
    if known[id] == nil and not seen[id] then
      seen[id] = true
      need[#need + 1] = id
      fields[#fields + 1] = 'i:' .. id
    end
  end
  if #fields == 0 then return end
  local values = g_hmget_all(GH, fields)
  for i, id in ipairs(need) do known[id] = values[i] or false end
end

local function g_set_item(id, value)
  known[id] = value
  item_sets[#item_sets + 1] = 'i:' .. id
  item_sets[#item_sets + 1] = value
end

local function g_del_item(id)
  known[id] = false
  item_dels[#item_dels + 1] = 'i:' .. id
end

-- The record of parsed `r` (see parse_record in lib/timers.lua); grouped items have no ttl.
local function g_grouped_record(r)
  return r.seq .. '|' .. r.id .. '|' .. g_int(r.deliveries) .. '|' .. g_int(r.priority) .. '|0|'
    .. r.meta .. '|' .. r.payload
end

-- Writes what this step changed; returns true when a group became ready (and then
-- wakes blocked readers).
local function g_flush()
  g_chunked('ZADD', GI, gi_adds, 2)
  local sets, dels = item_sets, item_dels
  for entry, b in pairs(batches) do
    if b.changed then
      b.changed = false
      local runs, run_g, run = {}, nil, {}
      for _, id in ipairs(b.order) do
        local g = b.map[id]
        if g then
          if g ~= run_g and #run > 0 then
            runs[#runs + 1] = run_g .. '\1' .. table.concat(run, ',') .. '\2'
            run = {}
          end
          run_g = g
          run[#run + 1] = id
        end
      end
      if #run > 0 then runs[#runs + 1] = run_g .. '\1' .. table.concat(run, ',') .. '\2' end
      if #runs > 0 then
        sets[#sets + 1] = 'e:' .. entry
        sets[#sets + 1] = table.concat(runs)
      else
        dels[#dels + 1] = 'e:' .. entry
        batches[entry] = nil
      end
    end
  end
  for _, g in ipairs(dirty_order) do
    local v = g_encode(states[g])
    if v then
      sets[#sets + 1] = 'g:' .. g
      sets[#sets + 1] = v
    else
      dels[#dels + 1] = 'g:' .. g
    end
  end
  g_chunked('HSET', GH, sets, 2)
  g_chunked('HDEL', GH, dels, 1)
  local woke = #pushes > 0
  g_chunked('RPUSH', GR, pushes, 1)
  if #sets > 0 then groups_present = true end
  dirty, dirty_order, pushes, gi_adds, item_sets, item_dels = {}, {}, {}, {}, {}, {}
  if woke then signal(Q) end
  return woke
end

-- For group_put.lua: the record `rec` of a new item waits in group g (load_states first).
local function g_wait_in(g, rec)
  gi_adds[#gi_adds + 1] = 0
  gi_adds[#gi_adds + 1] = g .. '\0' .. rec
  states[g].more = true
  g_touch(g)
end

-- For group_put.lua: item `id`, hidden by a put delay, joins group g when it comes due.
local function g_mark_delayed(id, g)
  g_set_item(id, 'd' .. g)
end

-- Appends to `recs` up to `want` records from the ready groups, round-robin: each
-- group in turn gives its head run (as much of it as fits), until `want` or the ready
-- groups run out. `entry`: the lease entry the items will be leased under (their groups
-- are held until every item out is settled); nil: they leave for good (a read without
-- visibility timeout) and their groups stay ready.
local function g_take_runs(recs, want, entry)
  local gs = redis.call('LRANGE', GR, 0, want - 1)
  if #gs == 0 then return end
  local used, got, runs = 0, 0, {}
  for _, g in ipairs(gs) do
    if got >= want then break end
    used = used + 1
    local room = want - got
    local ms = redis.call('ZRANGEBYLEX', GI, '[' .. g .. '\0', '(' .. g .. '\1', 'LIMIT', 0, room + 1)
    local k = math.min(#ms, room)
    local skip = #g + 2
    local ids = {}
    for i = 1, k do
      local rec = string.sub(ms[i], skip)
      recs[#recs + 1] = rec
      -- the id is the record's second field; its seq has a fixed width of 16
      if entry then ids[i] = string.sub(rec, 18, string.find(rec, '|', 18, true) - 1) end
    end
    if entry and k > 0 then runs[#runs + 1] = g .. '\1' .. table.concat(ids, ',') .. '\2' end
    -- the run is the group's first k members: one range removal
    if k > 0 then redis.call('ZREMRANGEBYLEX', GI, '[' .. g .. '\0', '[' .. ms[k]) end
    got = got + k
    -- a ready group is in state 'r' by the invariant: no need to read it
    states[g] = { out = entry and k or 0, more = #ms > k, blocked = false, ready = false }
    g_touch(g)
  end
  redis.call('LTRIM', GR, used, -1)
  if #runs > 0 then
    item_sets[#item_sets + 1] = 'e:' .. entry
    item_sets[#item_sets + 1] = table.concat(runs)
  end
  g_flush()
end

-- The next `want` records take_runs would deliver, without touching anything (peek).
local function g_peek_runs(recs, want)
  local gs = redis.call('LRANGE', GR, 0, want - 1)
  local got = 0
  for _, g in ipairs(gs) do
    if got >= want then break end
    local ms = redis.call('ZRANGEBYLEX', GI, '[' .. g .. '\0', '(' .. g .. '\1', 'LIMIT', 0, want - got)
    for i = 1, #ms do recs[#recs + 1] = string.sub(ms[i], #g + 2) end
    got = got + #ms
  end
end

-- The batch record of lease entry `entry` (see e: above), read once per call.
local function g_batch(entry)
  local b = batches[entry]
  if b then return b end
  b = { map = {}, order = {}, changed = false }
  local v = redis.call('HGET', GH, 'e:' .. entry)
  if v then
    for g, list in string.gmatch(v, '([^\1]*)\1([^\2]*)\2') do
      for id in string.gmatch(list, '[^,]+') do
        b.map[id] = g
        b.order[#b.order + 1] = id
      end
    end
  end
  batches[entry] = b
  return b
end

-- Takes item `id` out of the batch record of `entry`; returns its group (nil: it is not
-- out under that entry, or has none).
local function g_take_out(entry, id)
  local b = g_batch(entry)
  local g = b.map[id]
  if g then
    b.map[id] = nil
    b.changed = true
  end
  return g
end

-- Items that left their groups by done, counted per group: a group with nothing out any
-- more is ready again if items wait.
local function g_release(counts, order)
  g_load(order)
  for _, g in ipairs(order) do
    states[g].out = states[g].out - counts[g]
    g_touch(g)
  end
  g_flush()
end

-- The groups of the leases a done finished. `live`: read_groups' groups ({ entry, leases })
-- of live entries, on done's common path, which deletes leases without telling which were
-- still in flight: those listed in their entry's batch record were (see e: above).
-- Exact leases (done's path with refreshed leases) come as one group each.
local function g_finished_live(live)
  local counts, order = {}, {}
  for _, lg in ipairs(live) do
    local cut = #lg.entry + 1
    for _, lease in ipairs(lg.leases) do
      local g = g_take_out(lg.entry, string.sub(lease, 1, #lease - cut))
      if g then
        if not counts[g] then
          counts[g] = 0
          order[#order + 1] = g
        end
        counts[g] = counts[g] + 1
      end
    end
  end
  g_release(counts, order)
end

-- The groups of leases done finished, given exactly (done's path with refreshed leases).
local function g_finished(leases)
  local live = {}
  for _, lease in ipairs(leases) do
    local entry = string.match(lease, ':(%d+)$')
    live[#live + 1] = { entry = entry, leases = { lease } }
  end
  g_finished_live(live)
end

-- Before the steps that end deliveries without done (expiry, release) settle `leases`:
-- notes each lease's entry, so that settle_undone finds its group by item id.
local function g_prefetch_leases(leases)
  for _, lease in ipairs(leases) do
    local id, entry = string.match(lease, '^(.*):(%d+)$')
    if id then lease_entry[id] = entry end
  end
end

-- The group of a leased item being settled (nil for an item without one), taking it out
-- of its batch record (see settle_undone in lib/timers.lua; g_prefetch_leases first).
local function g_leased_group(id)
  if not has_groups() then return nil end
  local entry = lease_entry[id]
  if not entry then return nil end
  lease_entry[id] = nil
  return g_take_out(entry, id)
end

-- A leased grouped item goes back to the head of its group (`r` parsed, deliveries
-- updated): visible now, or hidden until visible_at, holding its group meanwhile so that
-- nothing behind it is delivered first. Returns the timer it added, if any.
local function g_requeue(r, g, visible_at, now)
  local rec = g_grouped_record(r)
  if visible_at > now then
    redis.call('ZADD', Q.delayed, visible_at, rec)
    g_set_item(r.id, 'h' .. g)
    return visible_at
  end
  gi_adds[#gi_adds + 1] = 0
  gi_adds[#gi_adds + 1] = g .. '\0' .. rec
  local s = g_state_of(g)
  s.more = true
  s.out = s.out - 1
  g_touch(g)
  return nil
end

-- A leased grouped item whose attempts are spent (or that failed for good) leaves its
-- group: dead-lettered (`dead`) or dropped. Its group moves on, unless the queue's
-- onDead is 'block' and it was dead-lettered: then the group stays blocked until a
-- redrive brings the item back. `r` still has its put seq.
local function g_ended(r, g, dead)
  local s = g_state_of(g)
  if dead then
    g_set_item(r.id, 'x' .. r.seq .. '\0' .. g)
    mode_cache = mode_cache or redis.call('HGET', Q.meta, 'groups')
    if mode_cache == 'block' then s.blocked = true end
  end
  s.out = s.out - 1
  g_touch(g)
end

-- For promote_due: due delayed records (`due`: record, score, ...) of groups join them at
-- their seq's place (a release delay's item also stops holding its group); returns the
-- other pairs, and adds the records that joined to `members` (to leave delayed).
local function g_promote(due, members)
  local ids = {}
  for i = 1, #due, 2 do
    local rec = due[i]
    ids[#ids + 1] = string.sub(rec, 18, string.find(rec, '|', 18, true) - 1)
  end
  g_prefetch(ids)
  local rest = {}
  for i = 1, #due, 2 do
    local rec, id = due[i], ids[(i + 1) / 2]
    local v = known[id]
    local kind = v and string.sub(v, 1, 1)
    if kind == 'd' or kind == 'h' then
      local g = string.sub(v, 2)
      members[#members + 1] = rec
      gi_adds[#gi_adds + 1] = 0
      gi_adds[#gi_adds + 1] = g .. '\0' .. rec
      g_del_item(id)
      local s = g_state_of(g)
      s.more = true
      if kind == 'h' then s.out = s.out - 1 end
      g_touch(g)
    else
      rest[#rest + 1] = rec
      rest[#rest + 1] = due[i + 1]
    end
  end
  return rest
end

-- Redrive: dead letters that had a group go back to it at their put seq, with fresh
-- attempts, and unblock it; returns the other records (parsed), for append_fresh.
local function g_redrive(parsed)
  if not has_groups() then return parsed end
  local ids = {}
  for i, r in ipairs(parsed) do ids[i] = r.id end
  g_prefetch(ids)
  local rest = {}
  for _, r in ipairs(parsed) do
    local v = known[r.id]
    if v and string.sub(v, 1, 1) == 'x' then
      local cut = string.find(v, '\0', 2, true)
      local g = string.sub(v, cut + 1)
      r.seq = string.sub(v, 2, cut - 1)
      gi_adds[#gi_adds + 1] = 0
      gi_adds[#gi_adds + 1] = g .. '\0' .. g_grouped_record(r)
      g_del_item(r.id)
      local s = g_state_of(g)
      s.more = true
      s.blocked = false
      g_touch(g)
    else
      rest[#rest + 1] = r
    end
  end
  g_flush()
  return rest
end

-- Lets the blocked groups among `gs` go on (their dead heads stay dead letters); returns how many.
local function g_unblock(gs)
  g_load(gs)
  local n = 0
  for _, g in ipairs(gs) do
    local s = states[g]
    if s.blocked then
      s.blocked = false
      n = n + 1
      g_touch(g)
    end
  end
  g_flush()
  return n
end

return {
  unblock = g_unblock, take_runs = g_take_runs, peek_runs = g_peek_runs, finished = g_finished,
  finished_live = g_finished_live, leased_group = g_leased_group, prefetch_leases = g_prefetch_leases,
  requeue = g_requeue, ended = g_ended, promote = g_promote,
  redrive = g_redrive, flush = g_flush, prefetch = g_prefetch, load_states = g_load, wait_in = g_wait_in,
  mark_delayed = g_mark_delayed, decode_state = g_decode, GI = GI, GR = GR, GH = GH,
}
