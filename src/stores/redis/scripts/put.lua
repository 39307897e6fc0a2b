--[[
  put: stores up to 1000 items in one atomic step, in order.

  KEYS    the 20 queue keys (see lib/queue.lua)
  ARGV[1] clock (test hook, "0" in production; see lib/queue.lua now_ms)
  ARGV[2] delay in ms; > 0 hides the items until now + delay
  ARGV[3] priority, an integer from -1000 to 1000
  ARGV[4] ttl in ms; > 0 drops an item not read within ttl of becoming visible; 0 = none
  ARGV[5..] payloads (JSON text)
  Returns the new item ids, in ARGV order.
  Side effects: appends to ready (priority 0, no ttl), sorted (+ ttl) or delayed; moves
  meta.seq on (never below now_ms * 1000) and counts meta.puts; lowers meta.due when it
  adds a timer; appends to the signal stream so that blocked readers wake up.
  Invariant: new seqs are the largest in the queue, so ready stays sorted by seq.
]]
--@include queue

local now = now_ms(ARGV[1])
local delay, priority, ttl = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local count = #ARGV - 4
local gen, first = reserve_seq(Q, count, now, 'puts')

local ids = {}
if delay == 0 and priority == 0 and ttl == 0 then
  -- the fast path: plain items go straight to the end of the ready list
  local recs = {}
  for i = 1, count do
    local id = gen .. '-' .. int_str(first + i - 1)
    ids[i] = id
    recs[i] = seq_str(first + i - 1) .. '|' .. id .. '|0|0|0|' .. ARGV[4 + i]
  end
  chunked('RPUSH', Q.ready, recs, 1)
else
  local recs = {}
  for i = 1, count do
    local id = gen .. '-' .. int_str(first + i - 1)
    ids[i] = id
    recs[i] = {
      seq = seq_str(first + i - 1), id = id, deliveries = 0, priority = priority, ttl = ttl,
      payload = ARGV[4 + i], fresh = true,
    }
  end
  local earliest = timers().enqueue(Q, recs, now + delay, now, true)
  if earliest then lower_due(Q, earliest) end
end
signal(Q)
return ids
