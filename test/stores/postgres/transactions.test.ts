/**
 * putData and doneData inside the caller's transaction (`opts.db`): items put are
 * invisible until COMMIT and never exist after ROLLBACK; a done that is rolled back did
 * not happen. Any `{ query(text, values) }` in a transaction will do.
 */
import { describe, expect, it } from 'vitest';
import type pg from 'pg';
import { VisqTypeError, type SqlClient } from '../../../src/index.js';
import { usePostgres, within } from './helpers.js';

const pgx = usePostgres();

/** Items of the queue, read at most once by a reader outside any transaction. */
async function drain(name = 'q'): Promise<unknown[]> {
  return [...(await pgx.queue(name).getData(1000, { visTimeout: 0 })).values()];
}

describe('putData in a transaction', () => {
  it('makes the items visible at COMMIT, not before', async () => {
    const queue = pgx.queue<string>('q', { visTimeout: 30 });
    await pgx.transaction(async (client) => {
      const ids = await queue.putData(['a', 'b'], { db: client });
      expect(ids).toHaveLength(2);
      expect(await queue.peekData(10)).toEqual(new Map());
      expect(await queue.getData(10)).toEqual(new Map());
      expect(await queue.stats()).toMatchObject({ ready: 0, puts: 0 });
    });
    expect([...(await queue.peekData(10)).values()]).toEqual(['a', 'b']);
    expect(await queue.stats()).toMatchObject({ ready: 2, puts: 2 });
  });

  it('leaves nothing behind after ROLLBACK: no item, no count', async () => {
    const queue = pgx.queue<string>();
    await pgx.transaction(async (client) => queue.putData(['gone'], { db: client }), { rollback: true });
    expect(await drain()).toEqual([]);
    expect(await queue.stats()).toMatchObject({ ready: 0, delayed: 0, puts: 0 });
  });

  it('writes more than 1000 items all or nothing with the transaction', async () => {
    const queue = pgx.queue<number>();
    const items = Array.from({ length: 2500 }, (_, i) => i);
    await pgx.transaction(async (client) => queue.putData(items, { db: client }), { rollback: true });
    expect((await queue.stats()).ready).toBe(0);
    await pgx.transaction(async (client) => queue.putData(items, { db: client }));
    expect((await queue.stats()).ready).toBe(2500);
    expect([...(await queue.peekData(3)).values()]).toEqual([0, 1, 2]);
  });

  it('rolls back with the application rows written beside it', async () => {
    await pgx.pool.query('CREATE TABLE IF NOT EXISTS orders (id serial PRIMARY KEY, item text)');
    const queue = pgx.queue<{ order: number }>();
    const attempt = pgx.transaction(async (client) => {
      const { rows } = await client.query<{ id: number }>('INSERT INTO orders (item) VALUES ($1) RETURNING id', ['book']);
      await queue.putData([{ order: (rows[0] as { id: number }).id }], { db: client });
      throw new Error('payment declined');
    });
    await expect(attempt).rejects.toThrow('payment declined');
    expect(await drain()).toEqual([]);
    const kept = await pgx.transaction(async (client) => {
      const { rows } = await client.query<{ id: number }>('INSERT INTO orders (item) VALUES ($1) RETURNING id', ['pen']);
      const id = (rows[0] as { id: number }).id;
      await queue.putData([{ order: id }], { db: client });
      return id;
    });
    expect(await drain()).toEqual([{ order: kept }]);
  });

  it('wakes a blocked reader at COMMIT', async () => {
    const reader = pgx.queue<string>('q', {}, pgx.store());
    const waiting = reader.getData(1, { wait: 60 });
    await pgx.transaction(async (client) => {
      await pgx.queue<string>().putData(['x'], { db: client });
      expect(await within(waiting, 200)).toBe('pending');
    });
    expect([...((await within(waiting, 5000)) as Map<string, string>).values()]).toEqual(['x']);
  });

  it('takes delays, priorities and ttl as a put outside a transaction does', async () => {
    const queue = pgx.queue<string>();
    await pgx.transaction(async (client) => {
      await queue.putData(['low'], { db: client, priority: -1 });
      await queue.putData(['later'], { db: client, delay: 60 });
      await queue.putData(['high'], { db: client, priority: 5, ttl: 60 });
    });
    expect([...(await queue.peekData(10)).values()]).toEqual(['high', 'low']);
    expect(await queue.stats()).toMatchObject({ ready: 2, delayed: 1 });
  });

  it('works with any client that has query(text, values) returning { rows }', async () => {
    const queue = pgx.queue<string>();
    await pgx.transaction(async (client) => {
      // what an adapter for another driver looks like: only query(text, values) => { rows }
      const db: SqlClient = { query: async (text, values) => ({ rows: (await client.query(text, values)).rows }) };
      await queue.putData(['via adapter'], { db });
    });
    expect(await drain()).toEqual(['via adapter']);
  });
});

describe('doneData in a transaction', () => {
  async function leased(n = 1): Promise<{ queue: ReturnType<typeof pgx.queue<string>>; leases: string[] }> {
    const queue = pgx.queue<string>('q', { visTimeout: 30, attempts: 3 });
    await queue.putData(Array.from({ length: n }, (_, i) => `item-${i}`));
    return { queue, leases: [...(await queue.getData(n)).keys()] };
  }

  it('finishes the items at COMMIT', async () => {
    const { queue, leases } = await leased(2);
    const finished = await pgx.transaction(async (client) => queue.doneData(leases, { db: client }));
    expect(finished).toBe(2);
    expect(await queue.stats()).toMatchObject({ ready: 0, inflight: 0, dones: 2 });
  });

  it('did not happen after ROLLBACK: the items stay in flight under the same leases', async () => {
    const { queue, leases } = await leased(2);
    await pgx.transaction(async (client) => expect(await queue.doneData(leases, { db: client })).toBe(2), { rollback: true });
    expect(await queue.stats()).toMatchObject({ inflight: 2, dones: 0 });
    expect(await queue.doneData(leases)).toBe(2);
  });

  it('holds the items while the transaction is open: no one else can finish or take them', async () => {
    const { queue, leases } = await leased(1);
    const client: pg.PoolClient = await pgx.pool.connect();
    try {
      await client.query('BEGIN');
      expect(await queue.doneData(leases, { db: client })).toBe(1);
      // a second done of the same lease waits for the transaction, then finds it finished
      const second = queue.doneData(leases);
      expect(await within(second, 200)).toBe('pending');
      await client.query('COMMIT');
      expect(await second).toBe(0);
    } finally {
      client.release();
    }
    expect(await queue.stats()).toMatchObject({ inflight: 0, dones: 1 });
  });

  it('commits with the side effects of handling the items, as one unit', async () => {
    await pgx.pool.query('CREATE TABLE IF NOT EXISTS handled (item text PRIMARY KEY)');
    const queue = pgx.queue<string>('q', { visTimeout: 30 });
    await queue.putData(['x']);
    const batch = await queue.getData(1);
    const failing = pgx.transaction(async (client) => {
      for (const item of batch.values()) await client.query('INSERT INTO handled (item) VALUES ($1)', [item]);
      await queue.doneData(batch, { db: client });
      await client.query('INSERT INTO handled (item) VALUES ($1)', ['x']); // a duplicate key: the handler fails
    });
    await expect(failing).rejects.toThrow(/duplicate key/);
    expect(await pgx.pool.query('SELECT * FROM handled')).toMatchObject({ rows: [] });
    expect(await queue.stats()).toMatchObject({ inflight: 1, dones: 0 });
    await pgx.transaction(async (client) => {
      for (const item of batch.values()) await client.query('INSERT INTO handled (item) VALUES ($1)', [item]);
      expect(await queue.doneData(batch, { db: client })).toBe(1);
    });
    expect((await pgx.pool.query('SELECT item FROM handled')).rows).toEqual([{ item: 'x' }]);
    expect(await queue.stats()).toMatchObject({ inflight: 0, dones: 1 });
  });

  it('is a no-op for stale leases, in a transaction too', async () => {
    const { queue, leases } = await leased(1);
    await queue.doneData(leases);
    expect(await pgx.transaction(async (client) => queue.doneData(leases, { db: client }))).toBe(0);
  });
});

describe('the db option', () => {
  for (const bad of [{}, 42, 'client', null, { query: 'SELECT 1' }]) {
    it(`rejects ${JSON.stringify(bad)} with a TypeError naming opts.db, and writes nothing`, async () => {
      const queue = pgx.queue<string>('q', { visTimeout: 30 });
      await queue.putData(['x']);
      const leases = [...(await queue.getData(1)).keys()];
      // @ts-expect-error not a database client
      await expect(queue.putData(['y'], { db: bad })).rejects.toThrow(/`opts\.db`/);
      // @ts-expect-error not a database client
      await expect(queue.doneData(leases, { db: bad })).rejects.toBeInstanceOf(VisqTypeError);
      expect(await queue.stats()).toMatchObject({ ready: 0, inflight: 1, puts: 1, dones: 0 });
    });
  }
});
