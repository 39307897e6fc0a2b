--[[
  The deduplicated put, composed from lib/dedupe.lua and lib/ops.lua's put_items, for
  put_dedupe.lua and tasks/enqueue.lua. Pasted after `--@include ops`.
]]

-- Puts the payloads whose keys (one per payload, all different) no live item of Q
-- holds, and claims those keys for the new items, in this one step. `ids`: the task
-- layer's ids (one per payload), or nil for new ones. `mode` 'w' (window) or 'd' (until
-- done); `window_ms` how long a key is held at most. Returns, per payload, the id and
-- whether it is a duplicate (then the id is the holder's): { ids, flags }, flags a
-- string of '0' (put) and '1' (duplicate).
local function put_deduped(payloads, ids, keys, mode, window_ms, delay, priority, ttl, now, metas)
  -- an item past its ttl or its last lease holds nothing: bring Q up to date first
  if mode == 'd' then maintain_if_due(Q, D, now) end
  local holders = dedupe().admit(keys, now)
  if not holders then
    -- every key is free: the put as it is
    local new_ids = put_items(payloads, ids, delay, priority, ttl, now, metas)
    dedupe().hold(keys, new_ids, mode, now + window_ms)
    return { new_ids, string.rep('0', #new_ids) }
  end
  local out, flags = {}, {}
  local put_payloads, put_ids, put_keys, put_metas, at = {}, ids and {} or nil, {}, {}, {}
  for i = 1, #payloads do
    if holders[i] then
      out[i] = holders[i]
      flags[i] = '1'
    else
      flags[i] = '0'
      local j = #put_payloads + 1
      put_payloads[j] = payloads[i]
      put_keys[j] = keys[i]
      if ids then put_ids[j] = ids[i] end
      if #metas > 1 then put_metas[j] = metas[i] end
      at[j] = i
    end
  end
  if #put_payloads > 0 then
    local new_ids = put_items(put_payloads, put_ids, delay, priority, ttl, now, #metas > 1 and put_metas or metas)
    for j, id in ipairs(new_ids) do out[at[j]] = id end
    dedupe().hold(put_keys, new_ids, mode, now + window_ms)
  end
  return { out, table.concat(flags) }
end
