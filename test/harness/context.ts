/**
 * Per-file test context. One store per test file — a private redis-server by default —
 * and a key prefix per test derived from its name, so tests never see each other's keys.
 *
 * `VISQ_TEST_STORE` picks the store the shared suites run against: `redis` (default) or
 * `memory` (a fresh MemoryStore per file). Suites create queues with
 * `new DataQueue(ctx.store, name, { prefix: ctx.prefix })` and control time with
 * `ctx.advance` / `ctx.freeze`, so they run unchanged on every store. `ctx.redis` and
 * `ctx.server` exist only on Redis: a test that uses them is Redis-specific and throws on
 * any other store.
 */
import { afterAll, beforeAll, beforeEach, expect } from 'vitest';
import type { Redis } from 'ioredis';
import { advanceClock, freezeClock, resetClock } from '../../src/data/clock.js';
import { dumpMemoryStore, MemoryStore, pendingWaits } from '../../src/data/memory-store.js';
import type { StoreLike } from '../../src/data/queue.js';
import { startRedisServer, type RedisServer } from './redis-server.js';
import { snapshotRedis } from './snapshot.js';

/** The kinds of store a suite can run against. */
export type StoreKind = 'redis' | 'memory';

export interface StoreContext {
  readonly kind: StoreKind;
  /** What to hand to `new DataQueue(...)`. */
  readonly store: StoreLike;
  /** Raw Redis access for Redis-specific checks (key layout, commands); throws on other stores. */
  readonly redis: Redis;
  /** The file's redis-server; throws on other stores. */
  readonly server: RedisServer;
  /** A key prefix unique to the current test. */
  readonly prefix: string;
  /** Every stored value of the current test's prefix, for "nothing changed" checks. */
  snapshot(): Promise<Record<string, unknown>>;
  /** Moves the store's clock forward by `seconds`. */
  advance(seconds: number): void;
  /** Freezes the store's clock at `atMs` (ms since the epoch). */
  freeze(atMs: number): void;
  /**
   * The same store as another process would reach it: a new client of the file's server
   * on Redis (closed with the server), the store itself in memory.
   */
  elsewhere(): StoreLike;
  /** How many blocking waits are pending: blocked clients on Redis, pending waits in memory. */
  blockedWaits(): Promise<number>;
}

let counter = 0;

function prefixFor(testName: string | undefined): string {
  counter += 1;
  const slug = (testName ?? 'test').toLowerCase().replace(/[^a-z0-9]+/g, '-').slice(-40);
  return `t${counter}-${slug}`;
}

function selectedKind(): StoreKind {
  const kind = process.env.VISQ_TEST_STORE ?? 'redis';
  if (kind !== 'redis' && kind !== 'memory') {
    throw new Error(`VISQ_TEST_STORE=${kind} is not a known store (redis, memory)`);
  }
  return kind;
}

function ready<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`${what} is not ready yet: use the context inside tests and hooks`);
  return value;
}

function redisOnly(what: string): never {
  throw new Error(`${what} is Redis-specific: this test runs only with VISQ_TEST_STORE=redis (the store is memory)`);
}

/** The store of one test file and what differs between kinds of store. */
interface FileStore {
  /** Handed to DataQueue; also the key of the clock hook. */
  readonly store: StoreLike;
  redis(): Redis;
  server(): RedisServer;
  snapshot(marker: string): Promise<Record<string, unknown>>;
  elsewhere(): StoreLike;
  blockedWaits(): Promise<number>;
  stop(): Promise<void>;
}

async function startRedisFile(extraArgs: readonly string[]): Promise<FileStore> {
  const server = await startRedisServer(extraArgs);
  const redis = server.client();
  return {
    store: redis,
    redis: () => redis,
    server: () => server,
    snapshot: (marker) => snapshotRedis(redis, marker),
    elsewhere: () => server.client(),
    async blockedWaits() {
      return Number(/^blocked_clients:(\d+)/m.exec(await redis.info('clients'))?.[1] ?? 0);
    },
    stop: () => server.stop(),
  };
}

function startMemoryFile(): FileStore {
  const store = new MemoryStore();
  return {
    store,
    redis: () => redisOnly('ctx.redis'),
    server: () => redisOnly('ctx.server'),
    snapshot: async (marker) => dumpMemoryStore(store, marker),
    elsewhere: () => store,
    blockedWaits: async () => pendingWaits(store),
    stop: () => store.close(),
  };
}

/** Registers the hooks of a file whose tests need a store, and returns its live context. */
export function useStore(extraArgs: readonly string[] = []): StoreContext {
  const kind = selectedKind();
  let file: FileStore | undefined;
  let prefix = '';
  beforeAll(async () => {
    file = kind === 'memory' ? startMemoryFile() : await startRedisFile(extraArgs);
  });
  afterAll(async () => {
    await file?.stop();
  });
  beforeEach(() => {
    prefix = prefixFor(expect.getState().currentTestName);
    if (file) resetClock(file.store);
  });
  const current = (): FileStore => ready(file, 'the store');
  return {
    kind,
    get store() {
      return current().store;
    },
    get redis() {
      return current().redis();
    },
    get server() {
      return current().server();
    },
    get prefix() {
      return prefix;
    },
    snapshot() {
      return current().snapshot(`{${prefix}:`);
    },
    advance(seconds) {
      advanceClock(current().store, seconds * 1000);
    },
    freeze(atMs) {
      freezeClock(current().store, atMs);
    },
    elsewhere() {
      return current().elsewhere();
    },
    blockedWaits() {
      return current().blockedWaits();
    },
  };
}
