--[[
  dedupe: looks up or frees one dedupe key of the queue (dq.dedupe.get / clear).

  KEYS    the 25 queue keys (see lib/queue.lua; lib/dedupe.lua for KEYS[21], KEYS[22])
  ARGV[1] clock (test hook, "0" in production; see lib/clock.lua)
  ARGV[2] 'get' or 'clear'
  ARGV[3] the key
  Returns for 'get' { holder id, expires at (ms), 'w' | 'd' }, or nil when no live item
  holds the key; for 'clear' 1 when a live holder had it, else 0.
  Side effects: maintenance first when due (so a key whose item is gone is free); an
  expired key is forgotten; 'clear' forgets the key (its item stays).
]]
--@include queue

local now = now_ms(ARGV[1])
maintain_if_due(Q, D, now)
local key = ARGV[3]
local store = dedupe()
local value = store.live(key, now)
if ARGV[2] == 'clear' then
  if not value then return 0 end
  store.forget(key, value)
  return 1
end
if not value then return nil end
local mode, expires_at, id = store.parse(value)
return { id, int_str(expires_at), mode }
