--[[
  put_dedupe: a deduplicated put of up to 1000 items in one atomic step (docs/dedupe.md):
  the items whose dedupe keys no live item holds are put as put.lua puts them, and
  claim their keys; the others write nothing.

  KEYS    the 25 queue keys (see lib/queue.lua; lib/dedupe.lua for KEYS[21], KEYS[22])
  ARGV[1] clock (test hook, "0" in production; see lib/clock.lua)
  ARGV[2] delay in ms; > 0 hides the items until now + delay
  ARGV[3] priority, an integer from -1000 to 1000
  ARGV[4] ttl in ms; > 0 drops an item not read within ttl of becoming visible; 0 = none
  ARGV[5] mode: 'w' (held for the window) or 'd' (held until the item is gone, the window
          a cap)
  ARGV[6] window in ms, > 0
  ARGV[7] k, how many item metadata follow: 0 (none), 1 (every item's) or one per item
  ARGV[8..7+k] the metadata (see lib/queue.lua's record)
  ARGV[8+k..] the n dedupe keys (all different), then the n payloads (JSON text), in
          item order
  Returns { ids, flags }: per item in ARGV order the new id, or for a duplicate the id
  of the item holding its key; flags a string with '1' for each duplicate, else '0'.
  Side effects: those of put.lua for the items put; their keys in dedupe-holders and
  their claim in dedupe (lib/dedupe.lua); the keys of a slice of expired claims forgotten; mode 'd' sets meta.dedupe_done and
  first brings the queue up to date with time (maintenance), so that an item that is
  already gone (ttl, spent lease) holds nothing.
  Invariant: a key has at most one live holder; a duplicate writes no item.
]]
--@include queue
--@include ops
--@include dedupe_put

local k = tonumber(ARGV[7])
local n = (#ARGV - 7 - k) / 2
local metas = { unpack(ARGV, 8, 7 + k) }
local keys = { unpack(ARGV, 8 + k, 7 + k + n) }
local payloads = { unpack(ARGV, 8 + k + n, #ARGV) }
return put_deduped(payloads, nil, keys, ARGV[5], tonumber(ARGV[6]), tonumber(ARGV[2]), tonumber(ARGV[3]),
  tonumber(ARGV[4]), now_ms(ARGV[1]), metas)
