/**
 * What only the PostgresStore has to prove beyond the shared suites: its constructor and
 * options, the schema it creates (once, under a lock, in the schema asked for), whose
 * pool it ends, what a closed store does, and names PostgreSQL text cannot hold as they are.
 */
import { describe, expect, it } from 'vitest';
import pg from 'pg';
import {
  ClosedError,
  DataQueue,
  MemoryStore,
  PostgresStore,
  Visq,
  VisqRangeError,
  VisqTypeError,
  listQueues,
} from '../../../src/index.js';
import { peekCarrying, putCarrying } from '../../../src/data/queue.js';
import { MIGRATIONS, SCHEMA_VERSION } from '../../../src/stores/postgres/sql/schema.js';
import { SESSION_SETUP, pendingWaits } from '../../../src/stores/postgres/store.js';
import { run, statement } from '../../../src/stores/postgres/connection.js';
import { createDatabase } from '../../harness/postgres-server.js';
import { usePostgres } from './helpers.js';

const pgx = usePostgres();

describe('new PostgresStore', () => {
  it.each([
    ['undefined', undefined],
    ['a URL string', 'postgresql://localhost/db'],
    ['an object without connectionString', { host: 'localhost' }],
    ['a MemoryStore', new MemoryStore()],
  ])('rejects %s as the connection with a TypeError', (_, value) => {
    // @ts-expect-error not a connection
    expect(() => new PostgresStore(value)).toThrow(VisqTypeError);
  });

  it.each([
    ['an unknown option', { schemas: 'x' }, VisqTypeError],
    ['a schema that is not an identifier', { schema: 'my-schema' }, VisqRangeError],
    ['an upper-case schema', { schema: 'Visq' }, VisqRangeError],
    ['a schema that is not a string', { schema: 42 }, VisqTypeError],
    ['an empty listenUrl', { listenUrl: '' }, VisqRangeError],
  ])('rejects %s with a typed error', (_, options, type) => {
    // @ts-expect-error a bad option
    expect(() => new PostgresStore({ connectionString: pgx.url }, options)).toThrow(type);
  });

  it('keeps apart names PostgreSQL text cannot hold as they are: NUL, lone surrogates, backslashes', async () => {
    // each pair would meet if stored naively: NUL is not text, a lone surrogate becomes U+FFFD
    const names = ['a\u0000b', 'a\\0b', 'lone \uD800', 'lone \uFFFD', 'back\\slash', 'back\\\\slash', '\\u0000'];
    for (const name of names) await pgx.queue<string>(name).putData([name]);
    for (const name of names) expect([...(await pgx.queue<string>(name).peekData(5)).values()]).toEqual([name]);
    expect(await listQueues(pgx.main, { prefix: pgx.prefix })).toEqual([...names].sort());
  });

  it('serves task queues: a Visq app on it runs tasks', async () => {
    const app = new Visq({ store: pgx.main, prefix: pgx.prefix });
    try {
      const add = app.task('add', (a: number, b: number) => a + b, { saveResults: 60 });
      app.worker();
      const et = await add.execute([1, 2]);
      expect(await et.wait(10)).toBe(true);
      expect(await et.result()).toBe(3);
    } finally {
      await app.close();
    }
  });
});

describe('plans', () => {
  const show = statement("SELECT current_setting('plan_cache_mode') AS mode");
  const tuned = [{ mode: 'force_generic_plan' }];

  it("tunes a connection of a pool the store creates before the store's first statement on it", async () => {
    const pool = new pg.Pool({ connectionString: pgx.url, max: 1 });
    try {
      const setup = { text: SESSION_SETUP, done: new WeakSet<object>() };
      expect(await run(pool, show, [], 'showing', undefined, setup)).toEqual(tuned);
      expect(await run(pool, show, [], 'showing', undefined, setup)).toEqual(tuned);
    } finally {
      await pool.end();
    }
  });

  it("leaves the settings of a caller's pool as they are", async () => {
    const pool = new pg.Pool({ connectionString: pgx.url, max: 1 });
    try {
      const store = new PostgresStore(pool);
      const queue = new DataQueue<number>(store, `${pgx.prefix}-plans`);
      await queue.putData([1]);
      await queue.doneData([...(await queue.getData(1)).keys()]);
      await store.close();
      expect((await pool.query(show.text)).rows).toEqual([{ mode: 'auto' }]);
    } finally {
      await pool.end();
    }
  });
});

describe('schema', () => {
  it('is created on first use, once, by stores racing on a fresh database', async () => {
    const fresh = await createDatabase({ url: pgx.url });
    const stores = Array.from({ length: 4 }, () => pgx.store(undefined, undefined));
    try {
      const racing = Array.from({ length: 4 }, () => new PostgresStore({ connectionString: fresh.url, max: 2 }));
      await Promise.all(racing.map((store, i) => new DataQueue(store, 'q').putData([i])));
      const admin = new pg.Client({ connectionString: fresh.url });
      await admin.connect();
      try {
        expect((await admin.query('SELECT version FROM visq.migrations ORDER BY version')).rows).toEqual(
          MIGRATIONS.map(({ version }) => ({ version })),
        );
        expect((await admin.query('SELECT count(*)::int AS n FROM visq.items')).rows).toEqual([{ n: 4 }]);
      } finally {
        await admin.end();
      }
      await Promise.all(racing.map((store) => store.close()));
    } finally {
      await Promise.all(stores.map((store) => store.close()));
      await fresh.drop();
    }
  });

  it('migrates a database of version 1 to the current one, keeping its items and their leases', async () => {
    const fresh = await createDatabase({ url: pgx.url });
    const admin = new pg.Client({ connectionString: fresh.url });
    await admin.connect();
    try {
      // what an older visq made: version 1 only, an item leased and one waiting
      await admin.query('CREATE SCHEMA "visq"');
      await admin.query('CREATE TABLE "visq".migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())');
      await admin.query(MIGRATIONS[0]?.sql('"visq"') ?? '');
      await admin.query('INSERT INTO "visq".migrations (version) VALUES (1)');
      const later = new PostgresStore({ connectionString: fresh.url, max: 2 });
      try {
        // written as version 1 would have: bigint ids
        await admin.query(`SELECT "visq".put('q', '"held"'), "visq".put('q', '"waiting"')`);
        await admin.query(
          `UPDATE "visq".items SET lease = 7, due_at = (extract(epoch FROM now()) * 1000)::bigint + 60000, attempts = 1, use_dead = false WHERE payload = '"held"'`,
        );
        const [held] = (await admin.query(`SELECT id::text AS id FROM "visq".items WHERE payload = '"held"'`)).rows as { id: string }[];
        const queue = new DataQueue<string>(later, 'q');
        expect([...(await queue.getData(5, { visTimeout: 30 })).values()]).toEqual(['waiting']);
        expect(await queue.doneData([`${held?.id}:7`])).toBe(1);
        expect((await admin.query('SELECT max(version)::int AS v FROM "visq".migrations')).rows).toEqual([{ v: SCHEMA_VERSION }]);
      } finally {
        await later.close();
      }
    } finally {
      await admin.end();
      await fresh.drop();
    }
  });

  it('migrates a database of version 2 to the current one: its items have no metadata, new ones keep theirs', async () => {
    const fresh = await createDatabase({ url: pgx.url });
    const admin = new pg.Client({ connectionString: fresh.url });
    await admin.connect();
    try {
      // what the visq before item metadata made: versions 1 and 2, one item waiting
      await admin.query('CREATE SCHEMA "visq"');
      await admin.query('CREATE TABLE "visq".migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())');
      for (const migration of MIGRATIONS.filter(({ version }) => version <= 2)) {
        await admin.query(migration.sql('"visq"'));
        await admin.query('INSERT INTO "visq".migrations (version) VALUES ($1)', [migration.version]);
      }
      await admin.query(`SELECT "visq".put('q', '"old"')`);
      const later = new PostgresStore({ connectionString: fresh.url, max: 2 });
      try {
        const queue = new DataQueue<string>(later, 'q');
        const traced = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
        await queue[putCarrying](['new'], [traced]);
        expect(await queue[peekCarrying](10)).toEqual([
          { id: expect.any(String), item: 'old', meta: '' },
          { id: expect.any(String), item: 'new', meta: traced },
        ]);
        // the SQL door of version 1 still puts, with no metadata
        await admin.query(`SELECT "visq".put('q', '"door"')`);
        expect((await queue[peekCarrying](10)).map(({ item, meta }) => [item, meta])).toEqual([
          ['old', ''],
          ['new', traced],
          ['door', ''],
        ]);
        expect((await admin.query('SELECT max(version)::int AS v FROM "visq".migrations')).rows).toEqual([{ v: SCHEMA_VERSION }]);
      } finally {
        await later.close();
      }
    } finally {
      await admin.end();
      await fresh.drop();
    }
  });

  it('lives in the schema given, apart from the default one', async () => {
    const other = pgx.store({ schema: 'visq_other' });
    await pgx.queue<string>('q', {}, other).putData(['elsewhere']);
    expect(await pgx.queue('q').stats()).toMatchObject({ ready: 0 });
    expect(await pgx.queue('q', {}, other).stats()).toMatchObject({ ready: 1 });
    const { rows } = await pgx.pool.query('SELECT count(*)::int AS n FROM visq_other.items');
    expect(rows).toEqual([{ n: 1 }]);
  });

  it('is only read by a store that finds it up to date', async () => {
    await pgx.main.ready();
    const before = (await pgx.pool.query('SELECT version, applied_at FROM visq.migrations')).rows;
    await pgx.store().ready();
    expect((await pgx.pool.query('SELECT version, applied_at FROM visq.migrations')).rows).toEqual(before);
  });
});

describe('close', () => {
  it('ends the pool it created', async () => {
    const store = new PostgresStore({ connectionString: pgx.url, max: 2 });
    await new DataQueue(store, `${pgx.prefix}-q`).putData([1]);
    await store.close();
    await expect(new DataQueue(store, `${pgx.prefix}-q`).peekData()).rejects.toBeInstanceOf(ClosedError);
  });

  it("never ends a pool the caller passed in", async () => {
    const pool = new pg.Pool({ connectionString: pgx.url, max: 2 });
    try {
      const store = new PostgresStore(pool);
      await new DataQueue(store, `${pgx.prefix}-q`).putData([1]);
      await store.close();
      expect((await pool.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
      // and the pool's own settings serve the LISTEN connection of a blocking read
      const again = new PostgresStore(pool);
      const queue = new DataQueue<number>(again, `${pgx.prefix}-q`);
      expect([...(await queue.getData(1, { wait: 1 })).values()]).toEqual([1]);
      await again.close();
    } finally {
      await pool.end();
    }
  });

  it('ends blocking reads, which return what there is', async () => {
    const store = pgx.store();
    const waiting = new DataQueue(store, `${pgx.prefix}-q`).getData(1, { wait: 60 });
    // close only once the read is really blocked: a read that has not reached its wait when
    // the pool ends fails with a StoreError instead (a different case, not this test's)
    while (pendingWaits(store) === 0) await new Promise((resolve) => setTimeout(resolve, 10));
    await store.close();
    expect(await waiting).toEqual(new Map());
  });

  it('can be called more than once', async () => {
    const store = pgx.store();
    await store.close();
    await expect(store.close()).resolves.toBeUndefined();
  });
});
