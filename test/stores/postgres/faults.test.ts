/**
 * Faults on a private PostgreSQL server of this file's own: while a producer puts and
 * consumers read and finish, the store's server connections are terminated
 * (pg_terminate_backend) again and again, and the server is restarted (a clean stop, and
 * a crash). Calls that fail say so (StoreError) and are retried by the application; what
 * the store acknowledged is never lost: every item whose put returned is delivered and
 * finished, and no item is delivered again after its done returned.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { DataQueue, PostgresStore, StoreError } from '../../../src/index.js';
import { createDatabase, startPostgresServer, type PostgresServer } from '../../harness/postgres-server.js';

let server: PostgresServer;
let database: { url: string; drop(): Promise<void> };

beforeAll(async () => {
  server = await startPostgresServer();
  database = await createDatabase(server);
});

afterAll(async () => {
  await server?.stop();
});

/** Runs `fn` until it succeeds; only a StoreError (the server unreachable) is retried. */
async function retry<T>(fn: () => Promise<T>, deadline: number): Promise<T> {
  for (;;) {
    try {
      return await fn();
    } catch (error) {
      if (!(error instanceof StoreError) || Date.now() > deadline) throw error;
      await sleep(20);
    }
  }
}

/** Terminates every connection to the test database but the one asking. */
async function terminateAll(url: string): Promise<number> {
  const admin = new pg.Client({ connectionString: url });
  admin.on('error', () => undefined);
  try {
    await admin.connect();
    const { rows } = await admin.query(
      'SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()',
    );
    return (rows[0] as { n: number }).n;
  } catch {
    return 0; // the server is restarting: nothing to terminate
  } finally {
    await admin.end().catch(() => undefined);
  }
}

describe('faults', () => {
  it('lose nothing acknowledged when connections are terminated and the server restarts', async () => {
    const deadline = Date.now() + 60_000;
    const store = new PostgresStore({ connectionString: database.url, max: 6 });
    const queue = (): DataQueue<number> => new DataQueue<number>(store, 'faults', { visTimeout: 1, attempts: 1000 });
    await store.ready();
    const acknowledged = new Set<number>();
    /** Items whose done returned 1 at its first try: finished for sure. */
    const finishedAt = new Map<string, number>();
    /** Items whose done failed and then found the lease no longer live: finished, or expired meanwhile. */
    const perhaps = new Set<number>();
    const finished = new Set<number>();
    const deliveredAfterDone: string[] = [];
    let producing = true;
    let terminated = 0;
    let restarts = 0;

    const producer = (async () => {
      const q = queue();
      for (let batch = 0; batch < 40; batch += 1) {
        const items = Array.from({ length: 25 }, (_, i) => batch * 25 + i);
        await retry(() => q.putData(items), deadline);
        for (const item of items) acknowledged.add(item);
        await sleep(30);
      }
      producing = false;
    })();

    /** Finishes one delivery; a failed call is retried and tells apart what it can. */
    async function finish(q: DataQueue<number>, id: string, lease: string, item: number): Promise<void> {
      let failed = false;
      const done = await retry(async () => {
        try {
          return await q.doneData([lease]);
        } catch (error) {
          failed = true;
          throw error;
        }
      }, deadline);
      if (done === 1) {
        finished.add(item);
        finishedAt.set(id, Date.now());
      } else if (failed) {
        perhaps.add(item);
      }
    }

    const consumers = Array.from({ length: 3 }, async () => {
      const q = queue();
      for (;;) {
        if (Date.now() > deadline) throw new Error(`timed out with ${finished.size} of ${acknowledged.size} finished`);
        const batch = await retry(() => q.getDeliveries(10, { wait: 0.2 }), deadline);
        for (const { id } of batch) if (finishedAt.has(id)) deliveredAfterDone.push(id);
        if (batch.length === 0 && !producing) {
          const stats = await retry(() => q.stats(), deadline);
          if (stats.ready + stats.inflight + stats.delayed === 0) return;
        }
        for (const { id, lease, item } of batch) await finish(q, id, lease, item);
      }
    });

    const disruptor = (async () => {
      let round = 0;
      while (producing) {
        await sleep(100);
        round += 1;
        if (round === 4 || round === 8) {
          await server.halt(round === 4 ? 'fast' : 'immediate');
          await server.start();
          restarts += 1;
        } else {
          terminated += await terminateAll(database.url);
        }
      }
    })();

    await Promise.all([producer, disruptor, ...consumers]);
    expect(restarts).toBe(2);
    expect(terminated).toBeGreaterThan(0);
    expect(acknowledged.size).toBe(1000);
    expect([...acknowledged].filter((item) => !finished.has(item) && !perhaps.has(item))).toEqual([]);
    expect(deliveredAfterDone).toEqual([]);
    await store.close();
    await database.drop();
  }, 90_000);

  it('keep the process alive when the server ends a connection the store holds for a transaction', async () => {
    // pg's pool stops listening for a connection's errors while it is checked out: a
    // connection ended by the server then emits 'error' on its client, which ends the
    // process unless the store listens. A caller-owned pool whose first BEGIN of each
    // connection waits until the server has ended that connection makes it certain.
    const own = await createDatabase(server);
    const inner = new pg.Pool({ connectionString: own.url, max: 2 });
    inner.on('error', () => undefined);
    let armed = false;
    let ended = 0;
    const pool = {
      options: inner.options,
      query: inner.query.bind(inner),
      end: inner.end.bind(inner),
      connect: async (): Promise<pg.PoolClient> => {
        const client = await inner.connect();
        if (!armed || ended > 0) return client;
        const query = client.query.bind(client) as (text: string) => Promise<unknown>;
        const closed = new Promise((resolve) => client.once('end', resolve));
        (client as unknown as { query: (text: string) => Promise<unknown> }).query = async (text: string) => {
          if (text === 'BEGIN' && ended === 0) {
            ended += 1;
            const pid = (client as unknown as { processID: number }).processID;
            await terminate(own.url, pid);
            await closed;
          }
          return query(text);
        };
        return client;
      },
    };
    const store = new PostgresStore(pool);
    try {
      await store.ready();
      armed = true;
      const dq = new DataQueue<number>(store, 'held-faults', { visTimeout: 5, rateLimit: { perSecond: 1000, burst: 100 } });
      await dq.putData([1, 2, 3]);
      // the rate-limited read runs in a transaction on a connection of its own
      await expect(dq.getData(3)).rejects.toBeInstanceOf(StoreError);
      expect(ended).toBe(1);
      expect([...(await dq.getData(3)).values()].sort()).toEqual([1, 2, 3]);
    } finally {
      await store.close();
      await inner.end();
      await own.drop();
    }
  });
});

/** Terminates one server connection, from a connection of its own. */
async function terminate(url: string, pid: number): Promise<void> {
  const admin = new pg.Client({ connectionString: url });
  admin.on('error', () => undefined);
  await admin.connect();
  try {
    await admin.query('SELECT pg_terminate_backend($1)', [pid]);
  } finally {
    await admin.end();
  }
}
