--[[
  tasks/enqueue: puts tasks of one name and writes their records, in one atomic step.

  KEYS     the 25 queue keys (see lib/queue.lua), the tasks hash (26), then the task
           keys the claim and settle scripts get (see lib/tasks.lua), unused
  ARGV[1]  clock (test hook, "0" in production; see lib/clock.lua)
  ARGV[2]  delay in ms; > 0 hides the items until now + delay
  ARGV[3]  priority, an integer from -1000 to 1000
  ARGV[4]  task name
  ARGV[5]  the items' metadata, the same for all ('' for none; see lib/queue.lua's record)
  ARGV[6]  dedupe mode: '' (none), 'w' or 'd' (see put_dedupe.lua)
  ARGV[7]  dedupe window in ms ('0' without dedupe)
  ARGV[8..] per task: task id (its item id too), then its item's payload (the task
           message), then with dedupe its key (keys all different)
  Returns without dedupe per task 1 when it was put, 0 when its id already has a record
  that is not expired: the same put sent again (a client resending after a reconnect)
  puts nothing. With dedupe { ids, flags } as put_dedupe.lua (a task sent again answers
  its own id, not a duplicate).
  Side effects: the put's (see put.lua, put_dedupe.lua); one record per task put, state
  q (queued) or d (delayed), 0 runs.
]]
--@include queue
--@include ops
--@include tasks
--@include dedupe_put

local now = now_ms(ARGV[1])
set_now(now)
local delay, priority, name = tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
local metas = ARGV[5] == '' and {} or { ARGV[5] }
local mode, window_ms = ARGV[6], tonumber(ARGV[7])
local per = mode == '' and 2 or 3
local n = (#ARGV - 7) / per
local ids = {}
for i = 1, n do ids[i] = ARGV[8 + per * (i - 1)] end
local existing = redis.call('HMGET', T.tasks, unpack(ids))

local put_ids, payloads, keys, fresh, written = {}, {}, {}, {}, {}
local text = encode_record(new_record(delay > 0 and 'd' or 'q', 0, '', name, ''))
for i = 1, n do
  local found = decode_record(existing[i])
  if found and not is_expired(found, now) then
    written[i] = 0
  else
    written[i] = 1
    local at = 8 + per * (i - 1)
    put_ids[#put_ids + 1] = ids[i]
    payloads[#payloads + 1] = ARGV[at + 1]
    if per == 3 then keys[#keys + 1] = ARGV[at + 2] end
    fresh[#fresh + 1] = i
  end
end
local function write_records(record_ids)
  local fields = {}
  for _, id in ipairs(record_ids) do
    fields[#fields + 1] = id
    fields[#fields + 1] = text
  end
  if #fields > 0 then redis.call('HSET', T.tasks, unpack(fields)) end
end
if mode == '' then
  if #put_ids > 0 then
    put_items(payloads, put_ids, delay, priority, 0, now, metas)
    write_records(put_ids)
  end
  return written
end
local out, flags = {}, {}
for i = 1, n do
  out[i] = ids[i]
  flags[i] = '0'
end
if #put_ids > 0 then
  local answer = put_deduped(payloads, put_ids, keys, mode, window_ms, delay, priority, 0, now, metas)
  local new_ids = {}
  for j, i in ipairs(fresh) do
    out[i] = answer[1][j]
    if string.sub(answer[2], j, j) == '1' then flags[i] = '1' else new_ids[#new_ids + 1] = put_ids[j] end
  end
  write_records(new_ids)
end
return { out, table.concat(flags) }
