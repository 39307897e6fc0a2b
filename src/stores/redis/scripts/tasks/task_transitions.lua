--[[
  task_transitions: moves the status records of tasks of one queue, each if the state
  machine allows it. Workers send the changes of many tasks at once.

  KEYS[1]    the queue's task metrics hash ({prefix:queue}:task-metrics): per task name,
             runs started, tasks done, tasks failed, runs retried, and a run-time
             histogram (non-cumulative bucket counts, count and sum in ms)
  KEYS[2i]   the status hash of task i ({prefix:queue}:task:<task id>)
  KEYS[2i+1] the result string of task i ({prefix:queue}:result:<task id>)
  KEYS[#KEYS] the queue's latest failed runs ({prefix:queue}:task-failures; see the
             "recent failures" block below)
  ARGV[1]    clock (test hook, "0" in production; see lib/clock.lua)
  ARGV[2]    pub/sub channel of the queue's task events
  ARGV[3..]  per task, FIELDS values:
               task id; target state (started | queued | delayed | done | failed |
               cancelled); the attempt the change is about (1 = first run; unused for
               started and cancelled); ms to keep the record afterwards; error text
               (failed, or queued/delayed after a failed attempt) or ''; result JSON for
               done or ''; ms to keep the result; task name (used when a start finds no
               record); for started: runs the task allows in all; for started: '1' when
               this is the first delivery of its queue item (a redriven dead letter is
               one) else '0'; for started: ms to keep the record if the runs are spent;
               the run time in ms of the run that ended (done, failed, retried), or -1;
               for started: the lease of the delivery being started; the id of the
               queue item (started: recorded as `item` if the record has none yet;
               a failure: noted in the recent failures)
  Returns { applied (1/0), state after, attempt after } per task. A start that finds the
  runs spent returns { 1, 'failed', attempt }.

  The state machine (attempt = runs started so far; the record counts runs, not queue
  deliveries, so a task fetched ahead by a worker that died is not charged a run):
    started        from no record or queued/delayed: attempt becomes attempt + 1.
                   The record keeps the lease of the delivery it started: the same start
                   sent again (a client resending after a reconnect) is acknowledged
                   without counting another run.
                   From started (its runner died or hung past the lease): the same,
                   unless the runs are spent; then the task becomes failed instead
                   (and the caller dead-letters or drops the item). From failed, only on
                   the first delivery of a queue item: a redriven dead letter, which
                   starts again with fresh attempts.
    queued/delayed after attempt k failed and will be retried: only from started k
    done           from any non-final state: a finished run is never thrown away
    failed         only from started k or queued/delayed after k: a stale attempt
                   cannot fail a task that a newer attempt is running
    cancelled      only from queued/delayed: cancel never races a start
  done, failed and cancelled are final (but for the redrive above). The applied changes
  are published in one message, a line "<task id> <state>" each, so that waiters wake
  without polling.
]]
--@include clock

local FIELDS = 14
-- upper bounds (ms) of the run-time histogram's buckets; above the last is +Inf
local BUCKETS = { 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000 }
local now = now_ms(ARGV[1])
local out, published, counts = {}, {}, {}

local function count(field, n)
  counts[field] = (counts[field] or 0) + n
end

-- ---- recent failures: a capped list per queue, for the dashboard ---------------------
-- Each applied change to failed, or to queued/delayed with an error (a retry), appends one
-- JSON entry to KEYS[#KEYS] (oldest first, newest last; RPUSH and LTRIM, which the
-- least-privilege ACL of docs/operations.md allows), trimmed to the last FAILURES_KEPT:
--   { t = task name, i = task id, m = item id ('' when unknown), e = error (cut to
--     FAILURE_ERROR_BYTES bytes), a = the run that failed, f = 1 failed for good / 0 to
--     be retried, at = store time ms }
-- Self-contained: note_failure() in the loop, write_failures() once at the end.
local FAILURES_KEPT = 50
local FAILURE_ERROR_BYTES = 1000
local failures = {}

local function note_failure(task_name, task_id, item, error_text, attempt, final)
  failures[#failures + 1] = cjson.encode({
    t = task_name, i = task_id, m = item, e = string.sub(error_text, 1, FAILURE_ERROR_BYTES),
    a = attempt, f = final and 1 or 0, at = now,
  })
end

local function write_failures()
  if #failures == 0 then return end
  -- only the newest FAILURES_KEPT can survive the trim: push no more (bounded unpack)
  local newest = {}
  for i = math.max(1, #failures - FAILURES_KEPT + 1), #failures do newest[#newest + 1] = failures[i] end
  redis.call('RPUSH', KEYS[#KEYS], unpack(newest))
  redis.call('LTRIM', KEYS[#KEYS], -FAILURES_KEPT, -1)
end
-- ---- end of recent failures ---------------------------------------------------------

local function count_run(task_name, run_ms)
  if run_ms < 0 then return end
  local bucket = 'inf'
  for _, bound in ipairs(BUCKETS) do
    if run_ms <= bound then
      bucket = tostring(bound)
      break
    end
  end
  count(task_name .. '|le|' .. bucket, 1)
  count(task_name .. '|runs', 1)
  count(task_name .. '|ms', math.floor(run_ms))
end

for i = 1, (#KEYS - 2) / 2 do
  local key, result_key = KEYS[2 * i], KEYS[2 * i + 1]
  local base = 2 + (i - 1) * FIELDS
  local task_id, target, attempt = ARGV[base + 1], ARGV[base + 2], tonumber(ARGV[base + 3])
  local keep_ms, error_text = ARGV[base + 4], ARGV[base + 5]
  local result, result_ms, task_name = ARGV[base + 6], ARGV[base + 7], ARGV[base + 8]
  local record = redis.call('HMGET', key, 'state', 'attempt', 'lease', 'item')
  local state, current = record[1], tonumber(record[2] or '0')
  local lease = ARGV[base + 13]
  local repeated = target == 'started' and state == 'started' and lease ~= '' and record[3] == lease

  local final = state == 'done' or state == 'failed' or state == 'cancelled'
  local pending = state == 'queued' or state == 'delayed'
  local allowed = false
  if target == 'started' then
    local redriven = state == 'failed' and ARGV[base + 10] == '1'
    if redriven then
      current = 0
    elseif state == 'started' and current >= tonumber(ARGV[base + 9]) then
      -- the last allowed run was interrupted: the runs are spent
      target, attempt = 'failed', current
      error_text = 'the worker running the last attempt stopped before it finished'
      keep_ms = ARGV[base + 11]
    end
    allowed = redriven or not final
    if target == 'started' then attempt = current + 1 end
  elseif final then
    allowed = false
  elseif target == 'queued' or target == 'delayed' then
    allowed = state == 'started' and attempt == current
  elseif target == 'done' then
    allowed = true
  elseif target == 'failed' then
    allowed = attempt == current and (state == 'started' or pending)
  elseif target == 'cancelled' then
    allowed = pending
  end

  if repeated then
    out[#out + 1] = 1
    out[#out + 1] = 'started'
    out[#out + 1] = current
  elseif not allowed then
    out[#out + 1] = 0
    out[#out + 1] = state or ''
    out[#out + 1] = current
  else
    local fields = { 'state', target, 'at', now }
    if target == 'started' then
      fields[#fields + 1] = 'lease'
      fields[#fields + 1] = lease
      if (record[4] or '') == '' and ARGV[base + 14] ~= '' then
        fields[#fields + 1] = 'item'
        fields[#fields + 1] = ARGV[base + 14]
      end
    end
    if target == 'started' or target == 'failed' then
      fields[#fields + 1] = 'attempt'
      fields[#fields + 1] = attempt
    else
      attempt = current
    end
    if not state then
      fields[#fields + 1] = 'task'
      fields[#fields + 1] = task_name
    end
    if error_text ~= '' then
      fields[#fields + 1] = 'error'
      fields[#fields + 1] = error_text
    end
    if target == 'done' and result ~= '' then
      redis.call('SET', result_key, result, 'PX', result_ms)
      fields[#fields + 1] = 'result'
      fields[#fields + 1] = 1
    end
    redis.call('HSET', key, unpack(fields))
    redis.call('PEXPIRE', key, keep_ms)
    published[#published + 1] = task_id .. ' ' .. target
    local metric_name = task_name ~= '' and task_name or (redis.call('HGET', key, 'task') or '?')
    if target == 'started' then
      count(metric_name .. '|started', 1)
    elseif target == 'done' or target == 'failed' then
      count(metric_name .. '|' .. target, 1)
    elseif (target == 'queued' or target == 'delayed') and error_text ~= '' then
      count(metric_name .. '|retried', 1)
    end
    if target ~= 'started' and target ~= 'cancelled' then count_run(metric_name, tonumber(ARGV[base + 12])) end
    if target == 'failed' or ((target == 'queued' or target == 'delayed') and error_text ~= '') then
      local item = ARGV[base + 14] ~= '' and ARGV[base + 14] or (record[4] or '')
      note_failure(metric_name, task_id, item, error_text, attempt, target == 'failed')
    end
    out[#out + 1] = 1
    out[#out + 1] = target
    out[#out + 1] = attempt
  end
end

for field, n in pairs(counts) do redis.call('HINCRBY', KEYS[1], field, n) end
write_failures()
if #published > 0 then redis.call('PUBLISH', ARGV[2], table.concat(published, '\n')) end
return out
