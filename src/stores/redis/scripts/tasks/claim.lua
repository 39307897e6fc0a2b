--[[
  tasks/claim: reads up to `count` task items under the worker's lease and starts the
  first `start` of them, in one atomic step: a worker's fetch and its runs' starts are
  one call.

  KEYS     the 20 queue keys (see lib/queue.lua), the tasks hash (21), the metrics hash
           (22), the expiry list (23), the failures list (24) (see lib/tasks.lua)
  ARGV[1]  clock (test hook, "0" in production; see lib/clock.lua)
  ARGV[2]  count, 1..1000
  ARGV[3]  how many of them to start now, 0..count
  ARGV[4]  the worker's lease in ms (> 0): items not started, and at-most-once runs
  ARGV[5]  claim token: the same claim sent again returns what it claimed, still live,
           and claims nothing more
  ARGV[6]  data-level attempts of the read (unbounded in effect: runs are counted by records)
  ARGV[7]  pub/sub channel of the queue's task events
  ARGV[8..] the queue's task specs (see lib/tasks.lua read_specs)
  Returns { wait_ms, cursor, entry, what_1, record_1, ... }: wait_ms / cursor as get.lua's
    when nothing was read; per item handed over, what the claim did with it, a kind
    letter and an attempt: s<n> started (its record says started; n is this run), h<n>
    held (not started), u0 unknown (no record to start from, or a task no spec names:
    the worker decides), x<n> spent (its last run, n, died with its worker: the worker
    fails it). The lease of an item is "<id>:<entry>", as get.lua's.
  Side effects: the read's (see get.lua); started records move to s with this delivery's
  lease and one more run, counted (every item stays under the worker's lease: the worker
  keeps a running task's lease at its own visibility timeout); an item whose task is final (cancelled, done, failed)
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
local count, start, lease_ms, token = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5]
local specs = read_specs(8)

-- What a claim makes of a delivery: a kind letter and the attempt, or nil to discard it.
-- `first` tells whether the item is at its first delivery (asked only of a failed task).
local function judge(record, lease, first, may_start)
  if record and record.state == 'F' and first() then
    -- a failed task's redriven dead letter: it starts afresh
    record.state, record.attempt, record.err = 'q', 0, ''
  end
  if not record then return 'u0' end
  if FINAL[record.state] then return nil end
  local spec = specs[record.name]
  if not spec then return 'u0' end
  if not may_start then return 'h' .. record.attempt end
  if is_spent(record, lease, spec) then return 'x' .. record.attempt end
  return 's'
end

-- the same claim sent again: what it claimed and still holds, as it stands now
local prior = redis.call('HGET', Q.entries, 'c:' .. token)
if prior then
  local info = redis.call('HGET', Q.entries, prior)
  local out = { -1, '', prior }
  if not info then return out end
  local _, _, _, list = parse_entry(info)
  local leases, ids = {}, {}
  for id in string.gmatch(list, '[^,]+') do
    ids[#ids + 1] = id
    leases[#leases + 1] = id .. ':' .. prior
  end
  local _, _, records = live_by_owner(Q, lease_groups(leases), now)
  local task_records = redis.call('HMGET', T.tasks, unpack(ids))
  for i, lease in ipairs(leases) do
    local rec = records[lease]
    if rec then
      local record = decode_record(task_records[i])
      local what
      if record and record.state == 's' and record.x == lease then
        what = 's' .. record.attempt
      else
        what = judge(record, lease, function() return false end, true)
        if what == 's' then what = 'h' .. record.attempt end
      end
      if what then
        out[#out + 1] = what
        out[#out + 1] = rec
      end
    end
  end
  return out
end

local recs, entry, ids, wait_ms, cursor = read_batch(count, lease_ms, ARGV[6], '0', now)
if #recs == 0 then return { wait_ms, cursor } end
redis.call('HSET', Q.entries, 'c:' .. token, entry, entry .. ':c', token)

local task_records = redis.call('HMGET', T.tasks, unpack(ids))
local log = new_log()
local out = { -1, '', entry }
local writes, discard = {}, {}
for i, rec in ipairs(recs) do
  local id = ids[i]
  local lease = id .. ':' .. entry
  local record = decode_record(task_records[i])
  local what = judge(record, lease, function() return string.match(rec, '^%d+|[^|]*|(%d+)|') == '0' end, i <= start)
  if not what then
    discard[#discard + 1] = lease
    if record.state == 'C' and string.sub(record.x, 1, 1) == 'k' then
      -- its item is gone now: the cancelled record is kept for its time from here
      record.x = int_str(now + tonumber(string.sub(record.x, 2)))
      writes[#writes + 1] = id
      writes[#writes + 1] = encode_record(record)
      log_expiry(log, record.x, id)
    end
  else
    if what == 's' then
      record.state, record.attempt, record.x = 's', record.attempt + 1, lease
      writes[#writes + 1] = id
      writes[#writes + 1] = encode_record(record)
      log_change(log, id, 'started', record.name, false, -1)
      what = 's' .. record.attempt
    end
    out[#out + 1] = what
    out[#out + 1] = rec
  end
end
if #writes > 0 then redis.call('HSET', T.tasks, unpack(writes)) end
if #discard > 0 then finish_leases(lease_groups(discard), now, false) end
flush_log(log, ARGV[7], now)
return out
