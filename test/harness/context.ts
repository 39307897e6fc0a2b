/**
 * Per-file test context. One store per test file — a private redis-server by default —
 * and a key prefix per test derived from its name, so tests never see each other's keys.
 *
 * `VISQ_TEST_STORE` picks the store the shared suites run against: `redis` (default).
 * Suites create queues with `new DataQueue(ctx.store, name, { prefix: ctx.prefix })` and
 * control time with `ctx.advance` / `ctx.freeze`, so they run unchanged on every store.
 */
import { afterAll, beforeAll, beforeEach, expect } from 'vitest';
import type { Redis } from 'ioredis';
import { advanceClock, freezeClock, resetClock } from '../../src/data/clock.js';
import type { StoreLike } from '../../src/data/queue.js';
import { startRedisServer, type RedisServer } from './redis-server.js';
import { snapshotRedis } from './snapshot.js';

/** The kinds of store a suite can run against. */
export type StoreKind = 'redis';

export interface StoreContext {
  readonly kind: StoreKind;
  /** What to hand to `new DataQueue(...)`. */
  readonly store: StoreLike;
  /** Raw Redis access for Redis-specific checks (key layout, commands). */
  readonly redis: Redis;
  /** The file's redis-server. */
  readonly server: RedisServer;
  /** A key prefix unique to the current test. */
  readonly prefix: string;
  /** Every stored value of the current test's prefix, for "nothing changed" checks. */
  snapshot(): Promise<Record<string, unknown>>;
  /** Moves the store's clock forward by `seconds`. */
  advance(seconds: number): void;
  /** Freezes the store's clock at `atMs` (ms since the epoch). */
  freeze(atMs: number): void;
}

let counter = 0;

function prefixFor(testName: string | undefined): string {
  counter += 1;
  const slug = (testName ?? 'test').toLowerCase().replace(/[^a-z0-9]+/g, '-').slice(-40);
  return `t${counter}-${slug}`;
}

function selectedKind(): StoreKind {
  const kind = process.env.VISQ_TEST_STORE ?? 'redis';
  if (kind !== 'redis') throw new Error(`VISQ_TEST_STORE=${kind} is not a known store (redis)`);
  return kind;
}

function ready<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`${what} is not ready yet: use the context inside tests and hooks`);
  return value;
}

/** Registers the hooks of a file whose tests need a store, and returns its live context. */
export function useStore(extraArgs: readonly string[] = []): StoreContext {
  const kind = selectedKind();
  let server: RedisServer | undefined;
  let redis: Redis | undefined;
  let prefix = '';
  beforeAll(async () => {
    server = await startRedisServer(extraArgs);
    redis = server.client();
  });
  afterAll(async () => {
    await server?.stop();
  });
  beforeEach(() => {
    prefix = prefixFor(expect.getState().currentTestName);
    if (redis) resetClock(redis);
  });
  return {
    kind,
    get store() {
      return ready(redis, 'the store');
    },
    get redis() {
      return ready(redis, 'the redis client');
    },
    get server() {
      return ready(server, 'the redis-server');
    },
    get prefix() {
      return prefix;
    },
    snapshot() {
      return snapshotRedis(ready(redis, 'the redis client'), `{${prefix}:`);
    },
    advance(seconds) {
      advanceClock(ready(redis, 'the store'), seconds * 1000);
    },
    freeze(atMs) {
      freezeClock(ready(redis, 'the store'), atMs);
    },
  };
}
