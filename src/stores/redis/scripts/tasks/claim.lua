--[[
  tasks/claim: reads up to `count` task items under the worker's lease and starts the
  first `start` of them, in one atomic step: a worker's fetch and its runs' starts are
  one call.

  KEYS     the 25 queue keys (see lib/queue.lua), the tasks hash (26), the metrics hash
           (27), the expiry list (28), the failures list (29) (see lib/tasks.lua)
  ARGV[1]  clock (test hook, "0" in production; see lib/clock.lua)
  ARGV[2]  count, 1..1000
  ARGV[3]  how many of them to start now, 0..count
  ARGV[4]  the worker's lease in ms (> 0): every item claimed stays under it (the worker
           keeps a running task's lease at its own visibility timeout)
  ARGV[5]  claim token: the same claim sent again returns what it claimed, still live,
           and claims nothing more
  ARGV[6]  data-level attempts of the read (unbounded in effect: runs are counted by records)
  ARGV[7]  pub/sub channel of the queue's task events
  ARGV[8]  the task queue's limits, '' for none (as get.lua's ARGV[6], lib/limits.lua)
  ARGV[9..] the queue's task specs (see lib/tasks.lua read_specs)
  Returns { wait_ms, cursor[, reason] } when nothing was read (as get.lua's), else
    { -1, '', entry, kinds, attempts, record_1, record_2, ... }: per item handed over, in
    kinds one letter of what the claim did with it: s started (its record says started),
    h held (not started), u unknown (no record to start from, or a task no spec names:
    the worker decides), x spent (its last run died with its worker: the worker fails
    it); attempts the run number of each s and x item, comma-separated, in order. The
    lease of an item is "<id>:<entry>", as get.lua's.
  Side effects: the read's (see get.lua); started records move to s with this delivery's
  lease and one more run, counted; an item whose task is final (cancelled, done, failed)
  is finished without being handed over (but a failed task's redriven dead letter, at its
  first delivery, starts afresh), a cancelled one's record then kept for its time; the
  token is kept with the entry until it ends.
  Invariant: a task is started at most once per delivery; a start and a cancel never both win.
]]
--@include queue
--@include ops
--@include tasks

local now = now_ms(ARGV[1])
set_now(now)
local count, start, token = tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[5]
local specs = read_specs(9)

-- What a claim makes of a delivery: a kind letter, or nil to discard it. `rec` is the
-- item's record when this is a fresh delivery (nil: the same claim sent again), read
-- only of a failed task, to tell whether the item is at its first delivery.
local function judge(record, lease, rec, may_start)
  if record and record.state == 'F' and rec and string.match(rec, '^%d+|[^|]*|(%d+)|') == '0' then
    -- a failed task's redriven dead letter: it starts afresh
    record.state, record.attempt = 'q', 0
    set_error(record, '')
  end
  if not record then return 'u' end
  if FINAL[record.state] then return nil end
  local spec = specs[record_name(record)]
  if not spec then return 'u' end
  if not may_start then return 'h' end
  if is_spent(record, lease, spec) then return 'x' end
  return 's'
end

-- the same claim sent again: what it claimed and still holds, as it stands now
local prior = redis.call('HGET', Q.entries, 'c:' .. token)
if prior then
  local info = redis.call('HGET', Q.entries, prior)
  if not info then return { -1, '', prior, '', '' } end
  local _, _, _, list = parse_entry(info)
  local leases, ids = {}, {}
  for id in string.gmatch(list, '[^,]+') do
    ids[#ids + 1] = id
    leases[#leases + 1] = id .. ':' .. prior
  end
  local _, _, records = live_by_owner(Q, lease_groups(leases), now)
  local task_records = redis.call('HMGET', T.tasks, unpack(ids))
  local kinds, attempts, recs = {}, {}, {}
  for i, lease in ipairs(leases) do
    local rec = records[lease]
    if rec then
      local record = decode_record(task_records[i])
      local kind
      if record and record.state == 's' and record.x == lease then
        kind = 's'
      else
        kind = judge(record, lease, nil, true)
        if kind == 's' then kind = 'h' end
      end
      if kind then
        kinds[#kinds + 1] = kind
        if kind == 's' or kind == 'x' then attempts[#attempts + 1] = record.attempt end
        recs[#recs + 1] = rec
      end
    end
  end
  return { -1, '', prior, table.concat(kinds), table.concat(attempts, ','), unpack(recs) }
end

local recs, entry, ids, wait_ms, cursor, limited = read_batch(count, tonumber(ARGV[4]), ARGV[6], '0', now, ARGV[8])
if #recs == 0 then return { wait_ms, cursor, limited } end
redis.call('HSET', Q.entries, 'c:' .. token, entry, entry .. ':c', token)

local task_records = redis.call('HMGET', T.tasks, unpack(ids))
local log = new_log()
local out = { -1, '', entry, '', '' }
local kinds, attempts, writes, discard = {}, {}, {}, {}
for i, rec in ipairs(recs) do
  local id = ids[i]
  local lease = id .. ':' .. entry
  local record = decode_record(task_records[i])
  local kind = judge(record, lease, rec, i <= start)
  if not kind then
    discard[#discard + 1] = lease
    if record.state == 'C' and string.sub(record.x, 1, 1) == 'k' then
      -- its item is gone now: the cancelled record is kept for its time from here
      record.x = int_str(now + tonumber(string.sub(record.x, 2)))
      writes[#writes + 1] = id
      writes[#writes + 1] = encode_record(record)
      log_expiry(log, record.x, id)
    end
  else
    if kind == 's' then
      record.state, record.attempt, record.x = 's', record.attempt + 1, lease
      writes[#writes + 1] = id
      writes[#writes + 1] = encode_record(record)
      log_change(log, id, 'started', record_name(record), false, -1)
    end
    if kind == 's' or kind == 'x' then attempts[#attempts + 1] = record.attempt end
    kinds[#kinds + 1] = kind
    out[#out + 1] = rec
  end
end
out[4], out[5] = table.concat(kinds), table.concat(attempts, ',')
if #writes > 0 then redis.call('HSET', T.tasks, unpack(writes)) end
if #discard > 0 then finish_leases(lease_groups(discard), now, false) end
flush_log(log, ARGV[7], now)
return out
