--[[
  Deduplicated puts (docs/dedupe.md): the queue's dedupe keys, claimed atomically with a
  put and, for keys held until done, freed in the same step that finishes, dead-letters
  or drops their item. Pasted by lib/queue.lua (it sees Q, int_str, chunked). Only the
  queue Q has dedupe keys; its dead-letter queue never dedupes.

  KEYS[21] dedupe          zset: key -> when it expires (ms), the window's end (or the
                           cap of a key held until done); no TTL keys, so nothing is lost
                           to volatile-* eviction. Each dedupe put forgets a bounded slice
                           of expired keys; a lookup treats an expired key as free.
  KEYS[22] dedupe-holders  hash: "k:<key>" -> "<w|d>|<expires at ms>|<holder id>";
                           for a key held until done also "i:<holder id>" -> key.
  Q.meta dedupe_done       '1' once a put held a key until done: the steps that end
                           items look for keys to free only then (one HGET per call), so
                           queues that never use `until: 'done'` pay nothing more.
]]

local DD = { expiries = KEYS[21], holders = KEYS[22] }
-- expired keys a dedupe put forgets (a slice per call, so a put stays short)
local DEDUPE_TRIM = 200
-- whether Q has keys held until done: nil until asked, once per call
local dedupe_done_flag
-- ids of items of Q that ended one at a time (dead letters, drops), freed in one go by
-- dedupe_flush at the end of the step
local dedupe_ended = {}

-- The holder value's parts: mode letter, expiry (ms), holder id.
local function dedupe_parse(value)
  local p2 = string.find(value, '|', 3, true)
  return string.sub(value, 1, 1), tonumber(string.sub(value, 3, p2 - 1)), string.sub(value, p2 + 1)
end

-- Forgets `key` whose holder value is `value`.
local function dedupe_forget(key, value)
  local mode, _, id = dedupe_parse(value)
  if mode == 'd' then
    redis.call('HDEL', DD.holders, 'k:' .. key, 'i:' .. id)
  else
    redis.call('HDEL', DD.holders, 'k:' .. key)
  end
  redis.call('ZREM', DD.expiries, key)
end

-- Forgets up to DEDUPE_TRIM keys whose time is over.
local function dedupe_trim(now)
  local gone = redis.call('ZRANGEBYSCORE', DD.expiries, '-inf', now, 'LIMIT', 0, DEDUPE_TRIM)
  if #gone == 0 then return end
  local fields = {}
  for i, key in ipairs(gone) do fields[i] = 'k:' .. key end
  local values = redis.call('HMGET', DD.holders, unpack(fields))
  for i, key in ipairs(gone) do
    if values[i] then dedupe_forget(key, values[i]) else redis.call('ZREM', DD.expiries, key) end
  end
end

-- The live holder of `key`: its value, or nil (an expired holder is forgotten).
local function dedupe_live(key, now)
  local value = redis.call('HGET', DD.holders, 'k:' .. key)
  if not value then return nil end
  local _, expires_at = dedupe_parse(value)
  if expires_at > now then return value end
  dedupe_forget(key, value)
  return nil
end

-- Whether Q has keys held until done (see meta.dedupe_done).
local function dedupe_holding()
  if dedupe_done_flag == nil then
    dedupe_done_flag = redis.call('HGET', Q.meta, 'dedupe_done') == '1'
  end
  return dedupe_done_flag
end

-- Frees the keys held until done by the items `ids`, which left Q in this step. `q` is
-- the queue they left: nothing happens for the dead-letter queue.
local function dedupe_free(q, ids)
  if q ~= Q or #ids == 0 or not dedupe_holding() then return end
  local fields = {}
  for i, id in ipairs(ids) do fields[i] = 'i:' .. id end
  local keys = {}
  for i = 1, #fields, CHUNK do
    local part = redis.call('HMGET', DD.holders, unpack(fields, i, math.min(i + CHUNK - 1, #fields)))
    for j = 1, #part do keys[i + j - 1] = part[j] or false end
  end
  for i, key in ipairs(keys) do
    if key then
      local value = redis.call('HGET', DD.holders, 'k:' .. key)
      local holder = nil
      if value then
        local _, _, id = dedupe_parse(value)
        holder = id
      end
      if holder == ids[i] then
        dedupe_forget(key, value)
      else
        redis.call('HDEL', DD.holders, fields[i])
      end
    end
  end
end

-- Notes that the item `id` left `q` (see dedupe_ended); a no-op unless keys are held until done.
local function dedupe_note(q, id)
  if q == Q and dedupe_holding() then dedupe_ended[#dedupe_ended + 1] = id end
end

-- Frees the keys of the items noted since the last flush.
local function dedupe_flush()
  if #dedupe_ended == 0 then return end
  local ids = dedupe_ended
  dedupe_ended = {}
  dedupe_free(Q, ids)
end

-- dedupe_free for records (by their ids).
local function dedupe_free_records(q, recs)
  if q ~= Q or #recs == 0 or not dedupe_holding() then return end
  local ids = {}
  for i, rec in ipairs(recs) do ids[i] = id_of(rec) end
  dedupe_free(q, ids)
end

-- dedupe_free for leases "<id>:<entry>".
local function dedupe_free_leases(leases)
  if #leases == 0 or not dedupe_holding() then return end
  local ids = {}
  for i, lease in ipairs(leases) do ids[i] = string.match(lease, '^(.*):[^:]*$') end
  dedupe_free(Q, ids)
end

-- Admits a put's keys (all different): returns, per key, the live holder's id or false.
-- Forgets a slice of expired keys first.
local function dedupe_admit(keys, now)
  dedupe_trim(now)
  local fields = {}
  for i, key in ipairs(keys) do fields[i] = 'k:' .. key end
  local values = redis.call('HMGET', DD.holders, unpack(fields))
  local holders = {}
  for i, key in ipairs(keys) do
    holders[i] = false
    local value = values[i]
    if value then
      local _, expires_at, id = dedupe_parse(value)
      if expires_at > now then holders[i] = id else dedupe_forget(key, value) end
    end
  end
  return holders
end

-- Records that the items `ids` hold `keys` (as many) until `expires_at`, in `mode`
-- ('w' for the window, 'd' until done).
local function dedupe_hold(keys, ids, mode, expires_at)
  if #keys == 0 then return end
  local stamp = mode .. '|' .. int_str(expires_at) .. '|'
  local fields, scores = {}, {}
  for i, key in ipairs(keys) do
    fields[#fields + 1] = 'k:' .. key
    fields[#fields + 1] = stamp .. ids[i]
    if mode == 'd' then
      fields[#fields + 1] = 'i:' .. ids[i]
      fields[#fields + 1] = key
    end
    scores[#scores + 1] = expires_at
    scores[#scores + 1] = key
  end
  chunked('HSET', DD.holders, fields, 2)
  chunked('ZADD', DD.expiries, scores, 2)
  if mode == 'd' and not dedupe_holding() then
    redis.call('HSET', Q.meta, 'dedupe_done', '1')
    dedupe_done_flag = true
  end
end
