/**
 * The SQL door: `SELECT visq.put(queue, payload, delay_seconds)` puts an item from SQL —
 * a trigger, another language — into the queue `new DataQueue(store, queue)` reads
 * (prefix 'visq'), in the caller's transaction.
 */
import { describe, expect, it } from 'vitest';
import { DataQueue, listQueues } from '../../../src/index.js';
import { usePostgres, within } from './helpers.js';

const pgx = usePostgres();

/** A queue under the default prefix, as the door names it; a fresh name per test. */
function doorQueue<T>(options: { visTimeout?: number } = {}): { name: string; queue: DataQueue<T> } {
  const name = `${pgx.prefix}-door`;
  return { name, queue: pgx.queue<T>(name, { ...options, prefix: 'visq' }) };
}

async function put(name: string, payload: string, delay?: number): Promise<string> {
  await pgx.main.ready();
  const args = delay === undefined ? [name, payload] : [name, payload, delay];
  const placeholders = args.map((_, i) => (i === 1 ? `$${i + 1}::jsonb` : `$${i + 1}`)).join(', ');
  const { rows } = await pgx.pool.query<{ id: string }>(`SELECT visq.put(${placeholders}) AS id`, args);
  return (rows[0] as { id: string }).id;
}

describe('visq.put', () => {
  it('puts an item the DataQueue of that name reads, and returns its id', async () => {
    const { name, queue } = doorQueue<{ total: number }>({ visTimeout: 30 });
    const id = await put(name, '{"total": 42}');
    const [delivery] = await queue.getDeliveries(1);
    expect(delivery).toMatchObject({ id, item: { total: 42 }, delivery: 1 });
    expect(await queue.doneData([delivery?.lease as string])).toBe(1);
    expect(await queue.stats()).toMatchObject({ puts: 1, deliveries: 1, dones: 1 });
  });

  it('lists the queue in listQueues under the default prefix', async () => {
    const { name } = doorQueue();
    await put(name, '1');
    expect(await listQueues(pgx.main)).toContain(name);
  });

  it('reaches the queue of a name with a backslash, as DataQueue names it', async () => {
    const name = `${pgx.prefix}-back\\slash`;
    await put(name, '"x"');
    expect([...(await pgx.queue<string>(name, { prefix: 'visq' }).getData(1)).values()]).toEqual(['x']);
    expect(await listQueues(pgx.main)).toContain(name);
  });

  it('hides the item for delay_seconds', async () => {
    const { name, queue } = doorQueue<string>();
    await put(name, '"later"', 60);
    expect(await queue.stats()).toMatchObject({ ready: 0, delayed: 1 });
  });

  it('keeps put order with puts from DataQueue', async () => {
    const { name, queue } = doorQueue<string>();
    await queue.putData(['first']);
    await put(name, '"second"');
    await queue.putData(['third']);
    expect([...(await queue.getData(3)).values()]).toEqual(['first', 'second', 'third']);
  });

  for (const [what, args] of [
    ['a NULL queue', [null, '1', 0]],
    ['an empty queue name', ['', '1', 0]],
    ['a queue name with "}"', ['a}b', '1', 0]],
    ['a NULL payload', ['q', null, 0]],
    ['a negative delay', ['q', '1', -1]],
    ['a NaN delay', ['q', '1', 'NaN']],
  ] as const) {
    it(`raises invalid_parameter_value for ${what}, and writes nothing`, async () => {
      await pgx.main.ready();
      const before = await pgx.pool.query('SELECT count(*)::int AS n FROM visq.items');
      const error = await pgx.pool.query('SELECT visq.put($1, $2::jsonb, $3::float8)', [...args]).catch((e: unknown) => e);
      expect(error).toMatchObject({ code: '22023', message: expect.stringMatching(/^visq\.put: expected/) });
      expect(await pgx.pool.query('SELECT count(*)::int AS n FROM visq.items')).toMatchObject({ rows: before.rows });
    });
  }
});

describe('a trigger that enqueues', () => {
  async function orders(name: string): Promise<void> {
    await pgx.main.ready();
    const table = `orders_${name.replace(/[^a-z0-9]/g, '_')}`;
    await pgx.pool.query(`
      CREATE TABLE ${table} (id serial PRIMARY KEY, item text NOT NULL);
      CREATE FUNCTION ${table}_enqueue() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        PERFORM visq.put('${name}', jsonb_build_object('order', NEW.id, 'item', NEW.item));
        RETURN NEW;
      END $$;
      CREATE TRIGGER ${table}_enqueue AFTER INSERT ON ${table} FOR EACH ROW EXECUTE FUNCTION ${table}_enqueue();`);
  }

  it('enqueues one item per row inserted, at COMMIT, in insert order', async () => {
    const { name, queue } = doorQueue<{ order: number; item: string }>();
    await orders(name);
    const table = `orders_${name.replace(/[^a-z0-9]/g, '_')}`;
    await pgx.transaction(async (client) => {
      await client.query(`INSERT INTO ${table} (item) VALUES ('book'), ('pen')`);
      expect(await queue.stats()).toMatchObject({ ready: 0 });
    });
    expect([...(await queue.getData(10)).values()]).toEqual([
      { order: 1, item: 'book' },
      { order: 2, item: 'pen' },
    ]);
  });

  it('enqueues nothing for a rolled-back insert', async () => {
    const { name, queue } = doorQueue();
    await orders(name);
    const table = `orders_${name.replace(/[^a-z0-9]/g, '_')}`;
    await pgx.transaction(async (client) => client.query(`INSERT INTO ${table} (item) VALUES ('book')`), { rollback: true });
    expect(await queue.stats()).toMatchObject({ ready: 0, puts: 0 });
  });

  it('wakes a blocked reader when the insert commits', async () => {
    const { name } = doorQueue();
    await orders(name);
    const table = `orders_${name.replace(/[^a-z0-9]/g, '_')}`;
    const reader = new DataQueue<{ item: string }>(pgx.store(), name);
    try {
      const waiting = reader.getData(1, { wait: 60 });
      await new Promise((resolve) => setTimeout(resolve, 50));
      await pgx.pool.query(`INSERT INTO ${table} (item) VALUES ('lamp')`);
      const got = await within(waiting, 5000);
      expect(got === 'pending' ? got : [...got.values()]).toEqual([{ order: 1, item: 'lamp' }]);
    } finally {
      await reader.close();
    }
  });
});
