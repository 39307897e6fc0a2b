/**
 * What each system's statements cost the PostgreSQL server, one statement at a time:
 * `npm run bench:statements -- <system> [tasks|get-done] [count]`. Starts a private
 * server with pg_stat_statements (planning counted), lets the bench's driver of
 * `system` process `count` tasks at concurrency 50 (one worker), or read and finish
 * `count` items in batches of 100 (four readers in this process), on analyzed tables,
 * and prints the statements by time: calls, ms, µs per item and their text. It is the
 * measurement behind docs/performance.md "What bounds the task goal"; the throughput of
 * `npm run bench` is the figure to compare systems by, this one says where a system's
 * server time goes.
 */
import pg from 'pg';
import { createDatabase, startPostgresServer } from '../../../test/harness/postgres-server.js';
import { graphileWorker, pgBoss, visqPostgres } from './systems.js';
import { PAYLOAD } from '../protocol.js';
import type { SystemDriver, WorkerHooks } from '../systems/types.js';

const DRIVERS: Record<string, SystemDriver> = { 'visq-postgres': visqPostgres, 'pg-boss': pgBoss, 'graphile-worker': graphileWorker };
const [name = 'visq-postgres', workload = 'tasks', countArg = '20000'] = process.argv.slice(2);
const driver = DRIVERS[name];
const count = Number(countArg);
if (!driver || !['tasks', 'get-done'].includes(workload) || !Number.isInteger(count) || count < 1000) {
  console.error(`usage: npm run bench:statements -- <${Object.keys(DRIVERS).join('|')}> [tasks|get-done] [count ≥ 1000]`);
  process.exit(64);
}

const server = await startPostgresServer();
try {
  await withClient(server.url, (c) => c.query("ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'"));
  await server.halt();
  await server.start();
  await withClient(server.url, async (c) => {
    await c.query('ALTER SYSTEM SET pg_stat_statements.track_planning = on');
    await c.query('SELECT pg_reload_conf()');
  });
  const database = await createDatabase(server);
  const address = { host: '127.0.0.1', port: 0, postgres: database.url };
  await withClient(database.url, (c) => c.query('CREATE EXTENSION pg_stat_statements'));
  const ms = workload === 'tasks' ? await tasks(driver, address, database.url) : await getDone(driver, address, database.url);
  console.log(`${name}, ${workload}: ${count} items in ${ms} ms (${Math.round((count / ms) * 1000)}/s, with pg_stat_statements)`);
  await withClient(database.url, async (c) => {
    const where = 'WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())';
    const { rows } = await c.query(
      `SELECT calls, round((total_plan_time + total_exec_time)::numeric, 1) AS ms,
         round(((total_plan_time + total_exec_time) * 1000 / $1)::numeric, 1) AS "µs/item",
         round(total_plan_time::numeric, 1) AS "planning ms", rows,
         left(regexp_replace(query, '\\s+', ' ', 'g'), 60) AS statement
       FROM pg_stat_statements ${where} ORDER BY total_plan_time + total_exec_time DESC LIMIT 8`,
      [count],
    );
    console.table(rows);
    const total = await c.query(`SELECT round((sum(total_plan_time + total_exec_time) * 1000 / $1)::numeric, 1) AS us FROM pg_stat_statements ${where}`, [
      count,
    ]);
    console.log(`all statements: ${(total.rows[0] as { us: string }).us} µs per item`);
  });
  await database.drop();
} finally {
  await server.stop();
}

async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** Fills, analyzes, resets the statistics and returns the ms that `work` took. */
async function measured(url: string, fill: () => Promise<void>, work: () => Promise<void>): Promise<number> {
  await fill();
  await withClient(url, async (c) => {
    await c.query('ANALYZE');
    await c.query('SELECT pg_stat_statements_reset()');
  });
  const start = Date.now();
  await work();
  return Date.now() - start;
}

async function tasks(system: SystemDriver, address: { host: string; port: number; postgres: string }, url: string): Promise<number> {
  if (!system.tasks) throw new Error(`${name} has no task driver`);
  const client = await system.tasks(address, 'at-least-once');
  let done = 0;
  const ms = await measured(
    url,
    async () => {
      for (let i = 0; i < count; i += 1000) await client.push(Array.from({ length: Math.min(1000, count - i) }, () => ({ a: 1, b: 2 })));
    },
    async () => {
      let finish!: () => void;
      const all = new Promise<void>((resolve) => (finish = resolve));
      const hooks: WorkerHooks = {
        finished: () => {
          done += 1;
          if (done === count) finish();
        },
        failed: (error) => console.error(error),
      };
      const worker = await client.worker(50, hooks);
      worker.start();
      await all;
      await worker.close();
    },
  );
  await client.close();
  return ms;
}

async function getDone(system: SystemDriver, address: { host: string; port: number; postgres: string }, url: string): Promise<number> {
  const readers = await Promise.all([0, 1, 2, 3].map((consumer) => system.data(address, consumer)));
  const ms = await measured(
    url,
    async () => {
      for (let i = 0; i < count; i += 100) await readers[0]!.put(Array.from({ length: 100 }, () => PAYLOAD));
    },
    async () => {
      await Promise.all(
        readers.map(async (reader) => {
          // a system that consumes by running a worker (graphile-worker) drains instead
          if (!reader.get) return void (await reader.drain?.(100));
          for (;;) {
            const batch = await reader.get(100);
            if (batch.items.length === 0) return;
            await batch.ack();
          }
        }),
      );
    },
  );
  await Promise.all(readers.map((reader) => reader.close()));
  return ms;
}
