--[[
  The dedupe keys' storage (see lib/dedupe.lua for the layout): pasted by lib/dedupe.lua
  inside `dedupe()`, so that only the calls that touch dedupe keys define all this.
]]

local DD = { expiries = KEYS[21], holders = KEYS[22] }
-- expired keys a dedupe put forgets (a slice per call, so a put stays short)
local DEDUPE_TRIM = 200

-- The holder value's parts: mode letter, expiry (ms), holder id.
local function parse_holder(value)
  local p2 = string.find(value, '|', 3, true)
  return string.sub(value, 1, 1), tonumber(string.sub(value, 3, p2 - 1)), string.sub(value, p2 + 1)
end

-- Forgets `key` whose holder value is `value`.
local function forget_key(key, value)
  local mode, _, id = parse_holder(value)
  if mode == 'd' then
    redis.call('HDEL', DD.holders, 'k:' .. key, 'i:' .. id)
  else
    redis.call('HDEL', DD.holders, 'k:' .. key)
  end
  redis.call('ZREM', DD.expiries, key)
end

-- Forgets up to DEDUPE_TRIM keys whose time is over.
local function trim_keys(now)
  local gone = redis.call('ZRANGEBYSCORE', DD.expiries, '-inf', now, 'LIMIT', 0, DEDUPE_TRIM)
  if #gone == 0 then return end
  local fields = {}
  for i, key in ipairs(gone) do fields[i] = 'k:' .. key end
  local values = redis.call('HMGET', DD.holders, unpack(fields))
  for i, key in ipairs(gone) do
    if values[i] then forget_key(key, values[i]) else redis.call('ZREM', DD.expiries, key) end
  end
end

-- The live holder of `key`: its value, or nil (an expired holder is forgotten).
local function live_holder(key, now)
  local value = redis.call('HGET', DD.holders, 'k:' .. key)
  if not value then return nil end
  local _, expires_at = parse_holder(value)
  if expires_at > now then return value end
  forget_key(key, value)
  return nil
end

-- Admits a put's keys (all different): returns, per key, the live holder's id or false.
-- Forgets a slice of expired keys first.
local function admit_keys(keys, now)
  trim_keys(now)
  local fields = {}
  for i, key in ipairs(keys) do fields[i] = 'k:' .. key end
  local values = redis.call('HMGET', DD.holders, unpack(fields))
  local holders = {}
  for i, key in ipairs(keys) do
    holders[i] = false
    local value = values[i]
    if value then
      local _, expires_at, id = parse_holder(value)
      if expires_at > now then holders[i] = id else forget_key(key, value) end
    end
  end
  return holders
end

-- Records that the items `ids` hold `keys` (as many) until `expires_at`, in `mode`
-- ('w' for the window, 'd' until done).
local function hold_keys(keys, ids, mode, expires_at)
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

-- Frees the keys held until done by the items `ids`, which left Q in this step.
local function free_ids(ids)
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

return {
  parse = parse_holder, forget = forget_key, live = live_holder, admit = admit_keys,
  hold = hold_keys, free = free_ids,
}
