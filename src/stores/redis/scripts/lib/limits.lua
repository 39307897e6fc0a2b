--[[
  Rate limits, in-flight caps and pauses of a queue Q (docs/rate-limits.md). Pasted by
  lib/queue.lua inside a function that only a limited read (or a read of a paused
  queue) runs, as lib/timers.lua is: a read without limits defines none of this and
  pays only for the pause field it fetches with the rest of meta. It sees the locals of
  lib/queue.lua (Q, D, int_str, signal, ...). The step that ends leases wakes capped
  readers through wake_slot_waiters in lib/queue.lua.

  State, in Q's meta hash (no keys of its own):
    lim_tat  GCRA theoretical arrival time in µs: the bucket is full from then on
             (absent: full now). A read of k items moves it k emission intervals on.
    paused   reads are paused until then, ms (absent or past: not paused); dq.limit()
    lim_w    present while a reader waits for a slot under maxInflight: the step that
             next ends a lease (done, release, fail, a task settle) wakes it and clears
             it (wake_slot_waiters, lib/queue.lua)

  The limit signal: a reader held back by a pause or the in-flight cap blocks on the
  dead-letter queue's signal stream (D.signal, KEYS[20]) instead of Q's: puts cannot
  help it, so they must not wake it (a busy producer would otherwise turn its wait into
  a read per put). dq.limit() and the steps that free a slot append there. Readers of
  the dead-letter queue allow spurious wake-ups, so sharing the stream costs them at
  most an extra read. A reader held back by the rate limit blocks on nothing: it sleeps
  until its token is due (the time only changes that).

  Limits come with the read (ARGV, see parse_limits): the reader's, never stored, so a
  queue nobody limits costs nothing.
]]

-- The limits a read passes: '' or nil for none, else "<intervalUs>:<burst>:<maxInflight>"
-- (src/data/limits.ts limitsArg); interval 0: no rate limit, cap 0: no cap.
local function parse_limits(arg)
  if not arg or arg == '' then return nil end
  local interval, burst, cap = string.match(arg, '^(%d+):(%d+):(%d+)$')
  return { interval = tonumber(interval), burst = tonumber(burst), cap = tonumber(cap) }
end

-- The limit signal's cursor for a blocking wait: "l:<last id>" (the l: tells the
-- client which stream to block on; see src/stores/redis/limits.ts).
local function limit_cursor()
  local last = redis.call('XREVRANGE', D.signal, '+', '-', 'COUNT', 1)
  return 'l:' .. (last[1] and last[1][1] or '0-0')
end

-- How many of `count` items a read may take now, given the limits `lim` (or nil) and the
-- pause `paused` (meta.paused, or nil). Returns the count allowed and the bucket's
-- arrival time (µs, for spend_tokens); or 0, the reason ('p' paused, 'i' in-flight cap,
-- 'r' rate limit), the ms until the reason can end (-1: unknown) and the cursor to block
-- on ('' for the rate limit, whose wait is a plain sleep).
local function gate_read(count, lim, paused, now)
  if paused and tonumber(paused) > now then
    return 0, 'p', tonumber(paused) - now, limit_cursor()
  end
  if not lim then return count end
  local allowed = count
  if lim.cap > 0 then
    -- after maintenance every inflight field is a live lease (but for a burst past its
    -- bound, which only makes this count high for a moment)
    local free = lim.cap - redis.call('HLEN', Q.inflight)
    if free <= 0 then
      redis.call('HSET', Q.meta, 'lim_w', '1')
      -- the next lease deadline frees a slot at the latest
      local first = redis.call('ZRANGE', Q.leases, 0, 0, 'WITHSCORES')
      return 0, 'i', first[2] and math.max(0, tonumber(first[2]) - now) or -1, limit_cursor()
    end
    if free < allowed then allowed = free end
  end
  local tat = nil
  if lim.interval > 0 then
    local now_us = now * 1000
    tat = math.max(tonumber(redis.call('HGET', Q.meta, 'lim_tat') or '0'), now_us)
    -- integers in µs (exact in a double until 2255): the tokens are what fits between
    -- the arrival time and now + burst intervals
    local tokens = math.floor((now_us + lim.burst * lim.interval - tat) / lim.interval)
    if tokens <= 0 then
      -- the next token is due once the arrival time is within burst - 1 intervals
      local wait_us = tat - (lim.burst - 1) * lim.interval - now_us
      return 0, 'r', math.ceil(wait_us / 1000), ''
    end
    if tokens < allowed then allowed = tokens end
  end
  return allowed, tat
end

-- Takes `n` tokens from the bucket whose arrival time gate_read returned.
local function spend_tokens(lim, tat, n)
  redis.call('HSET', Q.meta, 'lim_tat', int_str(tat + n * lim.interval))
end

return { parse_limits = parse_limits, gate_read = gate_read, spend_tokens = spend_tokens }
