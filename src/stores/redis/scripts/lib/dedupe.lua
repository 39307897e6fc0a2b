--[[
  Deduplicated puts (docs/dedupe.md): the queue's dedupe keys, claimed atomically with a
  put and, for keys held until done, freed in the same step that finishes, dead-letters
  or drops their item. Pasted by lib/queue.lua (it sees Q, id_of, int_str, chunked); the
  storage functions are in lib/dedupe_store.lua, defined only by the calls that use them
  (see `dedupe()`). Only the queue Q has dedupe keys; its dead-letter queue never dedupes.

  KEYS[21] dedupe          zset: claim -> when its keys expire (ms), the window's end
                           (or the cap of keys held until done). A claim is one put's
                           keys, named by its first new id; no TTL keys, so nothing is
                           lost to volatile-* eviction. Each dedupe put forgets the keys
                           of a bounded slice of expired claims; a lookup treats an
                           expired key as free.
  KEYS[22] dedupe-holders  hash: <key> -> "<w|d>|<expires at ms>|<holder id>"; for a key
                           held until done also "\255i<holder id>" -> key; per claim
                           "\255b<claim>" -> its keys joined by byte 255, for the trim. (Byte 255
                           never occurs in UTF-8: no key collides with these fields.)
  Q.meta dedupe_done       '1' once a put held a key until done: the steps that end
                           items look for keys to free only then (one HGET per call), so
                           queues that never use `until: 'done'` pay nothing more.
]]

-- whether Q has keys held until done: nil until asked, once per call
local dedupe_done_flag
-- ids of items of Q that ended one at a time (dead letters, drops), freed in one go by
-- dedupe_flush at the end of the step; nil when none
local dedupe_ended

-- Whether Q has keys held until done (see meta.dedupe_done).
local function dedupe_holding()
  if dedupe_done_flag == nil then
    dedupe_done_flag = redis.call('HGET', Q.meta, 'dedupe_done') == '1'
  end
  return dedupe_done_flag
end

-- The storage library (lib/dedupe_store.lua), defined on first use only: a plain call
-- defines no more than the few gates below.
local dedupe_lib
local function dedupe()
  if not dedupe_lib then
    dedupe_lib = (function()
--@include dedupe_store
    end)()
  end
  return dedupe_lib
end

-- Frees the keys held until done by the items `ids`, which left `q` in this step:
-- nothing happens for the dead-letter queue, or while Q holds no key until done.
local function dedupe_free(q, ids)
  if q ~= Q or #ids == 0 or not dedupe_holding() then return end
  dedupe().free(ids)
end

-- dedupe_free for records (by their ids).
local function dedupe_free_records(q, recs)
  if q ~= Q or #recs == 0 or not dedupe_holding() then return end
  local ids = {}
  for i, rec in ipairs(recs) do ids[i] = id_of(rec) end
  dedupe().free(ids)
end

-- dedupe_free for leases "<id>:<entry>".
local function dedupe_free_leases(leases)
  if #leases == 0 or not dedupe_holding() then return end
  local ids = {}
  for i, lease in ipairs(leases) do ids[i] = string.match(lease, '^(.*):[^:]*$') end
  dedupe().free(ids)
end

-- Notes that the item `id` left `q` (see dedupe_ended); a no-op unless keys are held until done.
local function dedupe_note(q, id)
  if q ~= Q or not dedupe_holding() then return end
  dedupe_ended = dedupe_ended or {}
  dedupe_ended[#dedupe_ended + 1] = id
end

-- Frees the keys of the items noted since the last flush.
local function dedupe_flush()
  if not dedupe_ended then return end
  local ids = dedupe_ended
  dedupe_ended = nil
  dedupe().free(ids)
end
