/**
 * What the PostgreSQL-specific suites share: a database of their own per file (on the
 * run's private server, or on one the file starts), PostgresStores on it that are closed
 * after the file, a pg Pool playing the caller's application (its own transactions and
 * SQL), and a queue prefix per test.
 */
import { afterAll, afterEach, beforeAll, beforeEach, expect, inject } from 'vitest';
import pg from 'pg';
import { DataQueue, PostgresStore, type DataQueueOptions, type PostgresStoreOptions } from '../../../src/index.js';
import { createDatabase, startPostgresServer, type PostgresServer } from '../../harness/postgres-server.js';

export interface PostgresFixture {
  /** The file's database. */
  readonly url: string;
  /** The application's own pool on the file's database. */
  readonly pool: pg.Pool;
  /** A queue prefix unique to the current test. */
  readonly prefix: string;
  /** A new store on the file's database (its own pool unless `pool` is given). */
  store(options?: PostgresStoreOptions, pool?: pg.Pool): PostgresStore;
  /** The file's first store. */
  readonly main: PostgresStore;
  /** A queue under the test's prefix, closed after the test. */
  queue<T = unknown>(name?: string, options?: DataQueueOptions, store?: PostgresStore): DataQueue<T>;
  /** Runs `fn` in a transaction on a client of the application's pool: COMMIT, or ROLLBACK when it throws or `rollback` is set. */
  transaction<R>(fn: (client: pg.PoolClient) => Promise<R>, opts?: { rollback?: boolean }): Promise<R>;
}

let tests = 0;

export function usePostgres(opts: { server?: () => PostgresServer | undefined } = {}): PostgresFixture {
  let own: PostgresServer | undefined;
  let database: { url: string; drop(): Promise<void> } | undefined;
  let pool: pg.Pool | undefined;
  let main: PostgresStore | undefined;
  let prefix = '';
  const stores: PostgresStore[] = [];
  const queues: DataQueue<unknown>[] = [];

  beforeAll(async () => {
    const given = opts.server?.();
    const address = given ?? inject('visqPostgres') ?? (own = await startPostgresServer());
    database = await createDatabase(address);
    pool = new pg.Pool({ connectionString: database.url, max: 8 });
    pool.on('error', () => undefined);
  });
  afterEach(async () => {
    await Promise.all(queues.splice(0).map((queue) => queue.close()));
  });
  afterAll(async () => {
    await Promise.all(stores.splice(0).map((store) => store.close()));
    await pool?.end();
    await database?.drop();
    await own?.stop();
  });
  beforeEach(() => {
    tests += 1;
    const slug = (expect.getState().currentTestName ?? 'test').toLowerCase().replace(/[^a-z0-9]+/g, '-').slice(-30);
    prefix = `p${tests}-${slug}`;
  });

  const fixture: PostgresFixture = {
    get url() {
      return (database as { url: string }).url;
    },
    get pool() {
      return pool as pg.Pool;
    },
    get prefix() {
      return prefix;
    },
    store(options, given) {
      const store = new PostgresStore(given ?? { connectionString: fixture.url, max: 4 }, options);
      stores.push(store);
      return store;
    },
    get main() {
      main ??= fixture.store();
      return main;
    },
    queue<T>(name = 'q', options: DataQueueOptions = {}, store: PostgresStore = fixture.main): DataQueue<T> {
      const queue = new DataQueue<T>(store, name, { prefix, ...options });
      queues.push(queue as DataQueue<unknown>);
      return queue;
    },
    async transaction(fn, { rollback = false } = {}) {
      const client = await fixture.pool.connect();
      try {
        await client.query('BEGIN');
        const result = await fn(client);
        await client.query(rollback ? 'ROLLBACK' : 'COMMIT');
        return result;
      } catch (error) {
        await client.query('ROLLBACK');
        throw error;
      } finally {
        client.release();
      }
    },
  };
  return fixture;
}

/** `promise`'s value, or 'pending' if it has not settled within `ms`. */
export async function within<T>(promise: Promise<T>, ms: number): Promise<T | 'pending'> {
  let timer: NodeJS.Timeout | undefined;
  const guard = new Promise<'pending'>((resolve) => {
    timer = setTimeout(() => resolve('pending'), ms);
  });
  try {
    return await Promise.race([promise, guard]);
  } finally {
    clearTimeout(timer);
  }
}
