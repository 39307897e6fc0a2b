--[[
  clear: deletes every key of the queue and of its dead-letter queue.

  KEYS    the 25 queue keys (see lib/queue.lua), then any other keys of the queue to
          delete (for a queue: those of a dead-letter queue of its dead-letter queue,
          which older versions could write, and for a task queue its tasks hash, see
          lib/tasks.lua; src/stores/redis/keys.ts clearKeys)
  ARGV[1] clock (unused; every script takes it)
  Returns the number of keys deleted.
  Side effects: the next put starts a new id epoch (meta.gen), so leases issued before
  the clear can never match an item put after it.
]]
return redis.call('DEL', unpack(KEYS))
