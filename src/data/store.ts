/** Turns what a user hands visq (an ioredis client or a store) into a QueueStore. */
import { VisqTypeError } from '../errors.js';
import type { RedisConnection } from '../stores/redis/scripts/loader.js';
import { RedisStore } from '../stores/redis/store.js';
import * as check from '../validate.js';
import { describe } from '../validate.js';
import type { QueueStore } from './backend.js';
import type { SqlClient } from './options.js';

export type { RedisConnection };

/** Where queues keep their items: an ioredis `Redis`/`Cluster` the caller owns, or a store such as `MemoryStore` or `PostgresStore`. */
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
    `Expected \`${name}\` to be an ioredis Redis or Cluster client, a MemoryStore or a PostgresStore, got ${describe(value)}`,
  );
}

/**
 * Refuses a transaction (an `opts.db`) for a store that cannot join one, before anything
 * is written; `whose` names what the store belongs to in the message ("this queue's").
 */
export function checkTransactional(store: QueueStore, db: SqlClient | undefined, whose: string): void {
  if (db === undefined || store.transactional === true) return;
  throw new VisqTypeError(
    `Option \`opts.db\` needs a store that can join a database transaction (a PostgresStore); ${whose} store is ${describe(store)}`,
  );
}

/**
 * The names of the queues that exist under `prefix` (default 'visq'), sorted: every queue
 * that has had a put since it was last cleared, read from the registry its first put
 * writes, without scanning keys. Dead-letter queues are listed through their queue.
 */
export async function listQueues(store: StoreLike, options?: { prefix?: string }): Promise<string[]> {
  const opts = check.options('options', options, ['prefix']);
  const prefix = opts.prefix === undefined ? 'visq' : check.text('options.prefix', opts.prefix, { maxLength: 128, forbid: '{}' });
  const resolved = resolveStore('store', store);
  try {
    return await resolved.store.queueNames(prefix);
  } finally {
    if (resolved.owned) await resolved.store.close();
  }
}
