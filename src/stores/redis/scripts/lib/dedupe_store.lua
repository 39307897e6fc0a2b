--[[
  The dedupe keys' storage (see lib/dedupe.lua for the layout): pasted by lib/dedupe.lua
  inside `dedupe()`, so that only the calls that touch dedupe keys define all this. It
  names none of lib/queue.lua's helpers (int_str, chunked, id_of): a name used here
  would keep that helper in every script, defined on every call (scripts/assemble.ts).
]]

local DD = { expiries = KEYS[21], holders = KEYS[22] }
-- Field prefixes of the holders hash beside the keys themselves: byte 255 never occurs in
-- UTF-8, and a key is a JavaScript string sent as UTF-8, so no key starts with them; a
-- key is its own field, with no prefix to build per key on the hot path.
local BY_ID, CLAIM = '\255i', '\255b'
-- ids of items of Q that ended one at a time (dead letters, drops), freed in one go by
-- flush at the end of the step
local ended = {}
-- expired claims (puts) whose keys a dedupe put forgets: a slice per call (at most this
-- many puts of up to 1000 keys), so a put stays short, and more than it adds
local DEDUPE_TRIM = 4

-- The holder value's parts: mode letter, expiry (ms), holder id.
local function parse_holder(value)
  local p2 = string.find(value, '|', 3, true)
  return string.sub(value, 1, 1), tonumber(string.sub(value, 3, p2 - 1)), string.sub(value, p2 + 1)
end

-- Forgets `key` whose holder value is `value` (its claim's entry in the expiries goes
-- when the trim reaches it).
local function forget_key(key, value)
  local mode, _, id = parse_holder(value)
  if mode == 'd' then
    redis.call('HDEL', DD.holders, key, BY_ID .. id)
  else
    redis.call('HDEL', DD.holders, key)
  end
end

-- Forgets the keys of up to DEDUPE_TRIM claims whose time is over: each key whose holder
-- is over too (a key claimed again since has a later holder, which stays).
local function trim_keys(now)
  local gone = redis.call('ZRANGEBYSCORE', DD.expiries, '-inf', now, 'LIMIT', 0, DEDUPE_TRIM)
  if #gone == 0 then return end
  local lists = {}
  for i, claim in ipairs(gone) do lists[i] = CLAIM .. claim end
  local packed = redis.call('HMGET', DD.holders, unpack(lists))
  for i = 1, #gone do
    local keys = {}
    if packed[i] then
      for key in string.gmatch(packed[i], '[^\255]+') do keys[#keys + 1] = key end
    end
    if #keys > 0 then
      local values = redis.call('HMGET', DD.holders, unpack(keys))
      for j, key in ipairs(keys) do
        local value = values[j]
        if value then
          local _, expires_at = parse_holder(value)
          if expires_at <= now then forget_key(key, value) end
        end
      end
    end
  end
  redis.call('HDEL', DD.holders, unpack(lists))
  redis.call('ZREM', DD.expiries, unpack(gone))
end

-- The live holder of `key`: its value, or nil (an expired holder is forgotten).
local function live_holder(key, now)
  local value = redis.call('HGET', DD.holders, key)
  if not value then return nil end
  local _, expires_at = parse_holder(value)
  if expires_at > now then return value end
  forget_key(key, value)
  return nil
end

-- Admits a put's keys (all different): returns nil when no key has a live holder (the
-- common case, made cheap), else per key the live holder's id or false. Forgets a slice
-- of expired keys first.
local function admit_keys(keys, now)
  trim_keys(now)
  local values = redis.call('HMGET', DD.holders, unpack(keys))
  local holders = nil
  for i = 1, #keys do
    local value = values[i]
    if value then
      local _, expires_at, id = parse_holder(value)
      if expires_at > now then
        if not holders then
          holders = {}
          for j = 1, #keys do holders[j] = false end
        end
        holders[i] = id
      else
        forget_key(keys[i], value)
      end
    end
  end
  return holders
end

-- Records that the items `ids` hold `keys` (as many) until `expires_at`, in `mode`
-- ('w' for the window, 'd' until done): one claim, named by the first id and the expiry,
-- whose entry in the expiries lists its keys for the trim.
local function hold_keys(keys, ids, mode, expires_at)
  if #keys == 0 then return end
  local expiry = string.format('%d', expires_at)
  local stamp = mode .. '|' .. expiry .. '|'
  -- a task id can come back (a task sent again after its record expired): the expiry
  -- keeps that claim apart from the first
  local claim = ids[1] .. '@' .. expiry
  local fields = { CLAIM .. claim, table.concat(keys, '\255') }
  if mode == 'd' then
    for i = 1, #keys do
      local at, id = 4 * i - 1, ids[i]
      fields[at], fields[at + 1], fields[at + 2], fields[at + 3] = keys[i], stamp .. id, BY_ID .. id, keys[i]
    end
  else
    for i = 1, #keys do fields[2 * i + 1], fields[2 * i + 2] = keys[i], stamp .. ids[i] end
  end
  -- at most 1000 keys, 4 fields each: well inside unpack's limit in steps of 2000
  for i = 1, #fields, 2000 do
    redis.call('HSET', DD.holders, unpack(fields, i, math.min(i + 1999, #fields)))
  end
  redis.call('ZADD', DD.expiries, expires_at, claim)
  if mode == 'd' and not dedupe_holding() then
    redis.call('HSET', Q.meta, 'dedupe_done', '1')
    dedupe_done_flag = true
  end
end

-- Frees the keys held until done by the items `ids`, which left Q in this step.
local function free_ids(ids)
  if #ids == 0 then return end
  local fields = {}
  for i, id in ipairs(ids) do fields[i] = BY_ID .. id end
  local keys = {}
  for i = 1, #fields, 1000 do
    local part = redis.call('HMGET', DD.holders, unpack(fields, i, math.min(i + 999, #fields)))
    for j = 1, #part do keys[i + j - 1] = part[j] or false end
  end
  for i, key in ipairs(keys) do
    if key then
      local value = redis.call('HGET', DD.holders, key)
      local holder = nil
      if value then
        local _, _, id = parse_holder(value)
        holder = id
      end
      if holder == ids[i] then
        forget_key(key, value)
      else
        redis.call('HDEL', DD.holders, fields[i])
      end
    end
  end
end

-- free_ids for records (by their ids).
local function free_records(recs)
  if #recs == 0 then return end
  local ids = {}
  -- a record's id follows its fixed-width seq (lib/queue.lua's id_of, not named: see above)
  local from = SEQ_WIDTH + 2
  for i, rec in ipairs(recs) do ids[i] = string.sub(rec, from, string.find(rec, '|', from, true) - 1) end
  free_ids(ids)
end

-- free_ids for leases "<id>:<entry>".
local function free_leases(leases)
  local ids = {}
  for i, lease in ipairs(leases) do ids[i] = string.match(lease, '^(.*):[^:]*$') end
  free_ids(ids)
end

-- Notes that the item `id` left Q (see `ended`).
local function note_ended(id)
  ended[#ended + 1] = id
end

-- Frees the keys of the items noted since the last flush.
local function flush_ended()
  if #ended == 0 then return end
  local ids = ended
  ended = {}
  free_ids(ids)
end

return {
  parse = parse_holder, forget = forget_key, live = live_holder, admit = admit_keys,
  hold = hold_keys, free = free_ids, free_records = free_records, free_leases = free_leases,
  note = note_ended, flush = flush_ended,
}
