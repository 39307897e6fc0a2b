/**
 * Per-file test context. One store per test file — a private redis-server by default —
 * and a key prefix per test derived from its name, so tests never see each other's keys.
 *
 * `VISQ_TEST_STORE` picks the store the shared suites run against (see store-kind.ts):
 * `redis` (default), `memory` (a fresh MemoryStore per file), `cluster` (an ioredis
 * `Cluster` client per file on the run's private Redis Cluster, started by
 * cluster-setup.ts; a file run without that global setup starts a cluster of its own) or
 * `postgres` (a PostgresStore per file on a database of its own, on the run's private
 * PostgreSQL server started by postgres-setup.ts, or on a server of its own likewise).
 * Suites create queues with `new DataQueue(ctx.store, name, { prefix: ctx.prefix })` and
 * control time with `ctx.advance` / `ctx.freeze`, so they run unchanged on every store.
 * `ctx.redis` exists on Redis and Cluster; `ctx.server` only on a single Redis: a test
 * that uses them is specific to those stores and throws on any other.
 */
import { afterAll, beforeAll, beforeEach, expect, inject } from 'vitest';
import { Cluster, type Redis } from 'ioredis';
import pg from 'pg';
import { advanceClock, freezeClock, resetClock } from '../../src/data/clock.js';
import { dumpMemoryStore, MemoryStore, pendingWaits } from '../../src/stores/memory/store.js';
import { PostgresStore, pendingWaits as pendingPostgresWaits } from '../../src/stores/postgres/store.js';
import type { StoreLike } from '../../src/data/queue.js';
import { readyMasters, startRedisCluster, type RedisCluster } from './cluster.js';
import { startRedisServer, type RedisServer } from './redis-server.js';
import { createDatabase, startPostgresServer, type PostgresServer } from './postgres-server.js';
import { snapshotPostgres } from './postgres-snapshot.js';
import { snapshotRedis } from './snapshot.js';
import { selectedKind, type StoreKind } from './store-kind.js';

export type { StoreKind } from './store-kind.js';

export interface StoreContext {
  readonly kind: StoreKind;
  /** What to hand to `new DataQueue(...)`. */
  readonly store: StoreLike;
  /**
   * Raw access for Redis-specific checks (key layout, commands): the file's client, a
   * `Cluster` on the cluster store (commands without a key go to any node); throws in memory.
   */
  readonly redis: Redis | Cluster;
  /** The file's redis-server; throws on other stores (a Cluster has no one server). */
  readonly server: RedisServer;
  /**
   * Where another process reaches the file's store: the redis-server's URL, or the
   * PostgreSQL database's; throws on the cluster and in memory.
   */
  readonly url: string;
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
   * on Redis (closed with the server), a new Cluster client on the cluster, a new
   * PostgresStore (its own pool and LISTEN connection) on PostgreSQL, the store itself in
   * memory.
   */
  elsewhere(): StoreLike;
  /**
   * How many blocking waits are pending: blocked clients on Redis, this file's blocked
   * clients summed over the masters on the cluster, pending waits in memory.
   */
  blockedWaits(): Promise<number>;
  /**
   * Kills the connections of this file's blocked waits from another connection (`CLIENT
   * KILL` on Redis; on PostgreSQL `pg_terminate_backend` of the LISTEN connections of the
   * stores that have blocked reads), as a network failure or a proxy would; resolves how
   * many it killed. Throws in memory, which has no connections.
   */
  killBlocked(): Promise<number>;
}

let counter = 0;

function prefixFor(testName: string | undefined): string {
  counter += 1;
  const slug = (testName ?? 'test').toLowerCase().replace(/[^a-z0-9]+/g, '-').slice(-40);
  return `t${counter}-${slug}`;
}

function ready<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`${what} is not ready yet: use the context inside tests and hooks`);
  return value;
}

function unavailable(what: string, kind: StoreKind): never {
  throw new Error(`${what} is Redis-specific: this test cannot run with VISQ_TEST_STORE=${kind}`);
}

/** The store of one test file and what differs between kinds of store. */
interface FileStore {
  /** Handed to DataQueue; also the key of the clock hook. */
  readonly store: StoreLike;
  redis(): Redis | Cluster;
  server(): RedisServer;
  url(): string;
  snapshot(marker: string): Promise<Record<string, unknown>>;
  elsewhere(): StoreLike;
  blockedWaits(): Promise<number>;
  killBlocked(): Promise<number>;
  stop(): Promise<void>;
}

/** The ids of the blocked clients in a `CLIENT LIST` reply whose line passes `mine`. */
function blockedIds(list: string, mine: (line: string) => boolean = () => true): string[] {
  return list
    .split('\n')
    .filter((line) => /\bflags=\w*b/.test(line) && mine(line))
    .map((line) => /^id=(\d+)/.exec(line)?.[1] ?? '')
    .filter((id) => id !== '');
}

/** Kills the clients `ids` on `node`; resolves how many it killed. */
async function killClients(node: Redis, ids: readonly string[]): Promise<number> {
  let killed = 0;
  for (const id of ids) killed += Number(await node.client('KILL', 'ID', id));
  return killed;
}

async function startRedisFile(extraArgs: readonly string[]): Promise<FileStore> {
  const server = await startRedisServer(extraArgs);
  const redis = server.client();
  return {
    store: redis,
    redis: () => redis,
    server: () => server,
    url: () => server.url,
    snapshot: (marker) => snapshotRedis(redis, marker),
    elsewhere: () => server.client(),
    async blockedWaits() {
      return Number(/^blocked_clients:(\d+)/m.exec(await redis.info('clients'))?.[1] ?? 0);
    },
    // the server is the file's own: every blocked client on it is one of the file's waits
    killBlocked: async () => killClients(redis, blockedIds((await redis.client('LIST')) as string)),
    stop: () => server.stop(),
  };
}

let clusterFiles = 0;

/**
 * A file on the run's shared cluster (or on a cluster of its own when run without the
 * global setup). Every client of the file carries one connection name, so that the
 * blocked clients of this file can be told from those of files running beside it.
 */
async function startClusterFile(): Promise<FileStore> {
  let own: RedisCluster | undefined;
  const ports = inject('visqClusterPorts') ?? (own = await startRedisCluster()).ports;
  clusterFiles += 1;
  const name = `visq-test-${process.pid}-${clusterFiles}`;
  const clients = new Set<Cluster>();
  const connect = (): Cluster => {
    const client = new Cluster(
      ports.map((port) => ({ host: '127.0.0.1', port })),
      { redisOptions: { connectionName: name } },
    );
    clients.add(client);
    return client;
  };
  const redis = connect();
  const mine = (line: string): boolean => line.includes(` name=${name} `);
  return {
    store: redis,
    redis: () => redis,
    server: () => unavailable('ctx.server', 'cluster'),
    url: () => unavailable('ctx.url', 'cluster'),
    snapshot: (marker) => snapshotRedis(redis, marker),
    elsewhere: connect,
    async blockedWaits() {
      let blocked = 0;
      for (const master of await readyMasters(redis)) blocked += blockedIds((await master.client('LIST')) as string, mine).length;
      return blocked;
    },
    async killBlocked() {
      let killed = 0;
      for (const master of await readyMasters(redis)) {
        killed += await killClients(master, blockedIds((await master.client('LIST')) as string, mine));
      }
      return killed;
    },
    async stop() {
      for (const client of clients) client.disconnect();
      await own?.stop();
    },
  };
}

function startMemoryFile(): FileStore {
  const store = new MemoryStore();
  return {
    store,
    redis: () => unavailable('ctx.redis', 'memory'),
    server: () => unavailable('ctx.server', 'memory'),
    url: () => unavailable('ctx.url', 'memory'),
    snapshot: async (marker) => dumpMemoryStore(store, marker),
    elsewhere: () => store,
    blockedWaits: async () => pendingWaits(store),
    killBlocked: () => unavailable('ctx.killBlocked', 'memory'),
    stop: () => store.close(),
  };
}

/**
 * A file on PostgreSQL: a database of its own, on the run's server (or on one the file
 * starts when run without the global setup). Stores are PostgresStores on their own pools,
 * each with an application_name of its own, so that the connections of one store can be
 * found in pg_stat_activity (its LISTEN connection is `<name>:listen`).
 */
async function startPostgresFile(): Promise<FileStore> {
  let own: PostgresServer | undefined;
  const address = inject('visqPostgres') ?? (own = await startPostgresServer());
  const database = await createDatabase(address);
  const stores = new Map<PostgresStore, string>();
  const connect = (): PostgresStore => {
    const name = `visq-test-${stores.size + 1}`;
    // idle connections stay until the store closes: no idle timers of the pool's own
    // outlive what a test closes (tests check that an app leaves no timer behind)
    const store = new PostgresStore({ connectionString: database.url, max: 4, application_name: name, idleTimeoutMillis: 0 });
    stores.set(store, name);
    return store;
  };
  const store = connect();
  const admin = new pg.Pool({ connectionString: database.url, max: 1 });
  admin.on('error', () => undefined);
  return {
    store,
    redis: () => unavailable('ctx.redis', 'postgres'),
    server: () => unavailable('ctx.server', 'postgres'),
    url: () => database.url,
    snapshot: (marker) => snapshotPostgres(admin, store.schema, marker),
    elsewhere: connect,
    blockedWaits: async () => [...stores.keys()].reduce((sum, each) => sum + pendingPostgresWaits(each), 0),
    // a blocked read holds no pool connection, only its store's LISTEN connection: that is
    // what a network failure or a proxy would cut under it
    async killBlocked() {
      const names = [...stores].filter(([each]) => pendingPostgresWaits(each) > 0).map(([, name]) => `${name}:listen`);
      const { rows } = await admin.query(
        `SELECT count(pg_terminate_backend(pid))::int AS killed FROM pg_stat_activity
         WHERE datname = current_database() AND application_name = ANY($1::text[])`,
        [names],
      );
      return (rows[0] as { killed: number }).killed;
    },
    async stop() {
      await Promise.all([...stores.keys()].map((each) => each.close()));
      await admin.end();
      await database.drop();
      await own?.stop();
    },
  };
}

/** Registers the hooks of a file whose tests need a store, and returns its live context. */
export function useStore(extraArgs: readonly string[] = []): StoreContext {
  const kind = selectedKind();
  let file: FileStore | undefined;
  let prefix = '';
  beforeAll(async () => {
    if (kind === 'memory') file = startMemoryFile();
    else if (kind === 'cluster') file = await startClusterFile();
    else if (kind === 'postgres') file = await startPostgresFile();
    else file = await startRedisFile(extraArgs);
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
    get url() {
      return current().url();
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
    killBlocked() {
      return current().killBlocked();
    },
  };
}
