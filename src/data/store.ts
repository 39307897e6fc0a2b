/** Turns what a user hands visq (an ioredis client or a store) into a QueueStore. */
import { VisqTypeError } from '../errors.js';
import type { RedisConnection } from '../scripts/loader.js';
import { describe } from '../validate.js';
import type { QueueStore } from './backend.js';
import { RedisStore } from './redis-backend.js';

/** Where queues keep their items: an ioredis `Redis`/`Cluster` the caller owns, or a store such as `MemoryStore`. */
export type StoreLike = RedisConnection | QueueStore;

export function isRedisConnection(value: unknown): value is RedisConnection {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as RedisConnection).evalsha === 'function' &&
    typeof (value as RedisConnection).duplicate === 'function'
  );
}

function isQueueStore(value: unknown): value is QueueStore {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as QueueStore).open === 'function' &&
    typeof (value as QueueStore).close === 'function'
  );
}

/**
 * The store behind `value`. A Redis connection is wrapped in a new RedisStore that the
 * caller of this function owns (`owned: true`: close it when done); a store is shared.
 */
export function resolveStore(name: string, value: unknown): { store: QueueStore; owned: boolean } {
  if (isRedisConnection(value)) return { store: new RedisStore(value), owned: true };
  if (isQueueStore(value)) return { store: value, owned: false };
  throw new VisqTypeError(
    `Expected \`${name}\` to be an ioredis Redis or Cluster client or a MemoryStore, got ${describe(value)}`,
  );
}
