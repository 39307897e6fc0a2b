--[[
  The task layer's records, shared by the task scripts (scripts/tasks/*.lua). A task is
  an item of its task queue whose item id is its task id; beside the queue:

  KEYS[21] tasks    hash: task id -> record, for every task whose item is in the queue
                    (no expiry: the record goes in the same step as the item)
  KEYS[22] metrics  hash: per task name, "<name>|started", "|done", "|failed", "|retried",
                    and the run-time histogram "|le|<ms bound>", "|runs", "|ms"
  {prefix:queue}:task:<id>    string (PX): the record of a finished task, kept for a while
  {prefix:queue}:result:<id>  string (PX): a saved result's JSON
  Scripts that touch these two per-task keys get them as KEYS too.

  Record: "<state>|<attempt>|<at ms>|<lease>|<name bytes>|<name><error>", where state is
    q queued, d delayed, s started (lease: the delivery that started the run), c cancelled
    while queued (its item waits for a claim to discard it) in the tasks hash, and
    done, failed, cancelled in a finished record (whose lease field is '1' when a result
    was saved). attempt counts the runs started; error is the last failure's message.

  Specs (ARGV, see read_specs): per registered task of the queue, its name, the runs it
  allows, its visibility timeout in ms (0: at most once), '1' to dead-letter it when its
  runs are spent, and how long to keep its finished record, ms.
]]

local T = { tasks = KEYS[21], metrics = KEYS[22] }
local STATE_NAMES = { q = 'queued', d = 'delayed', s = 'started', c = 'cancelled' }
local DIED = 'the worker running the last attempt stopped before it finished'
-- upper bounds (ms) of the run-time histogram's buckets; above the last is +Inf (tasks/metrics.ts)
local BUCKETS = { 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000 }

local function encode_record(state, attempt, at, lease, name, err)
  return state .. '|' .. int_str(attempt) .. '|' .. int_str(at) .. '|' .. lease .. '|' .. int_str(#name) .. '|'
    .. name .. (err or '')
end

local function decode_record(text)
  if not text then return nil end
  local p1 = string.find(text, '|', 1, true)
  local p2 = string.find(text, '|', p1 + 1, true)
  local p3 = string.find(text, '|', p2 + 1, true)
  local p4 = string.find(text, '|', p3 + 1, true)
  local p5 = string.find(text, '|', p4 + 1, true)
  local name_end = p5 + tonumber(string.sub(text, p4 + 1, p5 - 1))
  return {
    state = string.sub(text, 1, p1 - 1),
    attempt = tonumber(string.sub(text, p1 + 1, p2 - 1)),
    lease = string.sub(text, p3 + 1, p4 - 1),
    name = string.sub(text, p5 + 1, name_end),
    err = string.sub(text, name_end + 1),
  }
end

-- The specs in ARGV from `pos`: <count>, then 5 fields each. Returns them by name, and
-- the position after them.
local function read_specs(pos)
  local specs = {}
  for _ = 1, tonumber(ARGV[pos]) do
    specs[ARGV[pos + 1]] = {
      attempts = tonumber(ARGV[pos + 2]), vis_ms = tonumber(ARGV[pos + 3]),
      use_dead = ARGV[pos + 4] == '1', keep_ms = ARGV[pos + 5],
    }
    pos = pos + 5
  end
  return specs, pos + 1
end

-- Whether starting `record` under `lease` finds its runs spent: an earlier delivery
-- started a run that never ended (its worker died or hung past its lease), and it was
-- the last run allowed, or the task runs at most once.
local function is_spent(record, lease, spec)
  return record.state == 's' and record.lease ~= lease and (spec.vis_ms == 0 or record.attempt >= spec.attempts)
end

-- One script's task events and metrics, sent once at its end (one PUBLISH, one HINCRBY per field).
local function new_log()
  return { events = {}, counts = {} }
end

local function count_metric(log, field, n)
  log.counts[field] = (log.counts[field] or 0) + n
end

-- Records that a task moved to `state` (full name), counting it as task_transitions did:
-- starts, dones, failures for good, retries (a failed run requeued), and the run's time.
local function log_change(log, task_id, state, name, failed_run, run_ms)
  log.events[#log.events + 1] = task_id .. ' ' .. state
  if state == 'started' then
    count_metric(log, name .. '|started', 1)
  elseif state == 'done' or state == 'failed' then
    count_metric(log, name .. '|' .. state, 1)
  elseif failed_run then
    count_metric(log, name .. '|retried', 1)
  end
  if state ~= 'started' and state ~= 'cancelled' and run_ms >= 0 then
    local bucket = 'inf'
    for _, bound in ipairs(BUCKETS) do
      if run_ms <= bound then
        bucket = tostring(bound)
        break
      end
    end
    count_metric(log, name .. '|le|' .. bucket, 1)
    count_metric(log, name .. '|runs', 1)
    count_metric(log, name .. '|ms', math.floor(run_ms))
  end
end

local function flush_log(log, channel)
  for field, n in pairs(log.counts) do redis.call('HINCRBY', T.metrics, field, n) end
  if #log.events > 0 then redis.call('PUBLISH', channel, table.concat(log.events, '\n')) end
end

-- Lease groups (see read_groups) of a list of whole leases "<id>:<entry>".
local function lease_groups(leases)
  local by_entry, groups = {}, {}
  for _, lease in ipairs(leases) do
    local at = string.find(lease, ':[^:]*$')
    local entry = string.sub(lease, at + 1)
    local g = by_entry[entry]
    if not g then
      g = { entry = entry, leases = {} }
      by_entry[entry] = g
      groups[#groups + 1] = g
    end
    g.leases[#g.leases + 1] = lease
  end
  return groups
end
