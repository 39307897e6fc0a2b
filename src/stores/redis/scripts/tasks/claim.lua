--[[
  tasks/claim: reads up to `count` task items under the worker's lease and starts the
  first `start` of them, in one atomic step: a worker's fetch and its runs' starts are
  one call.

  KEYS     the 20 queue keys (see lib/queue.lua), the tasks hash (21), the metrics hash (22)
  ARGV[1]  clock (test hook, "0" in production; see lib/clock.lua)
  ARGV[2]  count, 1..1000
  ARGV[3]  how many of them to start now, 0..count
  ARGV[4]  the worker's lease in ms (> 0): items not started, and at-most-once runs
  ARGV[5]  claim token: the same claim sent again returns what it claimed, still live,
           and claims nothing more
  ARGV[6]  data-level attempts of the read (unbounded in effect: runs are counted by records)
  ARGV[7]  pub/sub channel of the queue's task events
  ARGV[8..] the queue's task specs (see lib/tasks.lua read_specs)
  Returns { wait_ms, cursor, entry, kind_1, attempt_1, record_1, ... }: wait_ms / cursor
    as get.lua's when nothing was read; per item handed over, what the claim did with it:
    'started' (its record says started; attempt is this run), 'held' (not started),
    'unknown' (no record to start from, or a task no spec names: the worker decides),
    'spent' (its last run died with its worker: the worker fails it; attempt is that run's).
    The lease of an item is "<id>:<entry>", as get.lua's.
  Side effects: the read's (see get.lua); started records move to s with this delivery's
  lease and one more run, counted; a started task with a visibility timeout of its own is
  held that long (a refresh entry); a cancelled task's item is finished and its record
  removed, without being handed over; the token is kept with the entry until it ends.
  Invariant: a task is started at most once per delivery; a start and a cancel never both win.
]]
--@include queue
--@include ops
--@include tasks

local now = now_ms(ARGV[1])
local count, start, lease_ms, token = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5]
local specs = read_specs(8)

local function reply_item(out, kind, attempt, rec)
  out[#out + 1] = kind
  out[#out + 1] = attempt
  out[#out + 1] = rec
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
      local spec = record and specs[record.name]
      if not record or not spec then
        reply_item(out, 'unknown', 0, rec)
      elseif record.state == 's' and record.lease == lease then
        reply_item(out, 'started', record.attempt, rec)
      elseif is_spent(record, lease, spec) then
        reply_item(out, 'spent', record.attempt, rec)
      else
        reply_item(out, 'held', record.attempt, rec)
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
local started_fields, cancelled, discard = {}, {}, {}
local extend = {} -- deadline -> leases of started tasks held for their own visibility timeout
for i, rec in ipairs(recs) do
  local id = ids[i]
  local lease = id .. ':' .. entry
  local record = decode_record(task_records[i])
  local spec = record and specs[record.name]
  if record and record.state == 'c' then
    discard[#discard + 1] = lease
    cancelled[#cancelled + 1] = id
  elseif not spec then
    reply_item(out, 'unknown', 0, rec)
  elseif i > start then
    reply_item(out, 'held', record.attempt, rec)
  elseif is_spent(record, lease, spec) then
    reply_item(out, 'spent', record.attempt, rec)
  else
    local attempt = record.attempt + 1
    started_fields[#started_fields + 1] = id
    started_fields[#started_fields + 1] = encode_record('s', attempt, now, lease, record.name, record.err)
    log_change(log, id, 'started', record.name, false, -1)
    if spec.vis_ms > 0 and spec.vis_ms ~= lease_ms then
      local deadline = now + spec.vis_ms
      extend[deadline] = extend[deadline] or {}
      table.insert(extend[deadline], lease)
    end
    reply_item(out, 'started', attempt, rec)
  end
end
if #started_fields > 0 then redis.call('HSET', T.tasks, unpack(started_fields)) end
if #cancelled > 0 then
  redis.call('HDEL', T.tasks, unpack(cancelled))
  finish_leases(lease_groups(discard), now, false)
end
for deadline, leases in pairs(extend) do refresh_leases(lease_groups(leases), deadline, now) end
flush_log(log, ARGV[7])
return out
