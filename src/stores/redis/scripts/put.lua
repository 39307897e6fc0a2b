--[[
  put: stores up to 1000 items in one atomic step, in order.

  KEYS    the 25 queue keys (see lib/queue.lua)
  ARGV[1] clock (test hook, "0" in production; see lib/queue.lua now_ms)
  ARGV[2] delay in ms; > 0 hides the items until now + delay
  ARGV[3] priority, an integer from -1000 to 1000
  ARGV[4] ttl in ms; > 0 drops an item not read within ttl of becoming visible; 0 = none
  ARGV[5] k, how many item metadata follow: 0 (none), 1 (every item's) or one per item
  ARGV[6..5+k] the metadata (see lib/queue.lua's record)
  ARGV[6+k..] payloads (JSON text)
  Returns the new item ids, in ARGV order.
  Side effects: appends to ready (priority 0, no ttl), sorted (+ ttl) or delayed; moves
  meta.seq on (never below now_ms * 1000) and counts meta.puts; lowers meta.due when it
  adds a timer; appends to the signal stream so that blocked readers wake up.
  Invariant: new seqs are the largest in the queue, so ready stays sorted by seq.
]]
--@include queue
--@include ops

local k = tonumber(ARGV[5])
local metas, payloads = {}, {}
for i = 1, k do metas[i] = ARGV[5 + i] end
for i = 6 + k, #ARGV do payloads[i - 5 - k] = ARGV[i] end
return put_items(payloads, nil, tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), now_ms(ARGV[1]), metas)
