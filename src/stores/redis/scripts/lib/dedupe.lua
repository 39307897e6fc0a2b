--[[
  Deduplicated puts (docs/dedupe.md): the queue's dedupe keys, claimed atomically with a
  put and, for keys held until done, freed in the same step that finishes, dead-letters
  or drops their item. Pasted by lib/queue.lua (it sees Q, id_of, int_str, chunked); the
  storage functions are in lib/dedupe_store.lua, defined only by the calls that use them
  (see `dedupe()`). Only the queue Q has dedupe keys; its dead-letter queue never dedupes.

  KEYS[21] dedupe          zset: claim -> when its keys expire (ms), the window's end
                           (or the cap of keys held until done). A claim is one put's
                           keys, named "<its first new id>@<expiry>"; no TTL keys, so nothing is
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

-- Whether Q has keys held until done (see meta.dedupe_done). The steps that end items
-- of Q ask this first, and only then call dedupe() to free their keys.
local function dedupe_holding()
  if dedupe_done_flag == nil then
    dedupe_done_flag = redis.call('HGET', Q.meta, 'dedupe_done') == '1'
  end
  return dedupe_done_flag
end

-- The storage library (lib/dedupe_store.lua), defined on first use only: a plain call
-- defines no more than these two functions.
local dedupe_lib
local function dedupe()
  if not dedupe_lib then
    dedupe_lib = (function()
--@include dedupe_store
    end)()
  end
  return dedupe_lib
end
