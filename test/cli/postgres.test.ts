/**
 * The `visq` bin against a PostgreSQL database, run as real processes (`node --import tsx
 * src/cli/main.ts ...`) with the file's database as `VISQ_PG_URL` or `--pg-url`: stats,
 * peek, dead (and --redrive), inspect (items and tasks), worker (a module that opens its
 * own PostgresStore) and serve. Runs with the postgres store (`npm run test:postgres`).
 */
import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { describe, expect, it } from 'vitest';
import { DataQueue, PostgresStore, Visq } from '../../src/index.js';
import { useStore } from '../harness/context.js';
import { freePort } from '../harness/redis-server.js';
import { parseScrape, send } from '../observe/helpers.js';
import { defineTasks } from './fixtures/tasks.js';
import { finished, useCli, type Finished } from './processes.js';

const ctx = useStore();
const cli = useCli(ctx);
const { start, open } = cli;

/** `visq ...args --prefix <this test's prefix>`, the database from VISQ_PG_URL. */
function visqHere(...args: string[]): Promise<Finished> {
  return cli.run([...args, '--prefix', ctx.prefix]);
}

function taskApp(): ReturnType<typeof defineTasks> {
  return defineTasks(cli.track(new Visq({ store: ctx.store, prefix: ctx.prefix })));
}

describe.runIf(ctx.kind === 'postgres')('visq CLI on PostgreSQL', () => {
  describe('choosing the store', () => {
    it('reads the database of --pg-url as it reads VISQ_PG_URL', async () => {
      await open('jobs').putData(['a', 'b']);
      const fromFlag = await cli.run(['stats', 'jobs', '--json', '--pg-url', ctx.url, '--prefix', ctx.prefix], { VISQ_PG_URL: '' });
      expect(fromFlag.code, fromFlag.stderr).toBe(0);
      expect(JSON.parse(fromFlag.stdout)).toMatchObject({ queue: 'jobs', ready: 2 });
    });

    it('reads the schema of --pg-schema', async () => {
      const other = new PostgresStore({ connectionString: ctx.url, max: 2 }, { schema: 'visq_cli' });
      try {
        await new DataQueue(other, 'jobs', { prefix: ctx.prefix }).putData(['elsewhere']);
        const result = await visqHere('stats', 'jobs', '--json', '--pg-schema', 'visq_cli');
        expect(JSON.parse(result.stdout)).toMatchObject({ queue: 'jobs', ready: 1 });
        const defaultSchema = await visqHere('stats', 'jobs', '--json');
        expect(JSON.parse(defaultSchema.stdout)).toMatchObject({ queue: 'jobs', ready: 0 });
      } finally {
        await other.close();
      }
    });

    it.each([
      [['stats', '--redis-url', 'redis://127.0.0.1:1', '--pg-url', 'postgresql://127.0.0.1:1/x'], '--redis-url and --pg-url name two stores'],
      [['stats', '--pg-url', 'redis://127.0.0.1:1'], 'Expected `--pg-url` to be a postgres:// or postgresql:// URL'],
      [['stats', '--redis-url', 'redis://127.0.0.1:1', '--pg-schema', 'x'], '--pg-schema goes with a PostgreSQL store'],
      [['stats', '--pg-schema', 'Not-A-Schema'], 'Expected `--pg-schema` to be a lowercase SQL identifier'],
    ])('exits 64 for %j', async (args, message) => {
      const result = await cli.run(args);
      expect(result.code).toBe(64);
      expect(result.stderr).toContain(message);
    });

    it('exits 64 when the environment names both a Redis and a PostgreSQL', async () => {
      const result = await cli.run(['stats'], { REDIS_URL: 'redis://127.0.0.1:1' });
      expect(result.code).toBe(64);
      expect(result.stderr).toContain('Both REDIS_URL and VISQ_PG_URL are set');
    });

    it('exits 2 with a clear message, without the password, when PostgreSQL cannot be reached', async () => {
      const port = await freePort();
      const result = await cli.run(['stats', '--pg-url', `postgresql://visq:secret@127.0.0.1:${port}/nowhere`], { VISQ_PG_URL: '' });
      expect(result.code).toBe(2);
      expect(result.stderr).toContain(`Cannot connect to PostgreSQL at postgresql://visq:***@127.0.0.1:${port}/nowhere`);
      expect(result.stderr).not.toContain('secret');
    });
  });

  describe('stats, peek, dead, inspect', () => {
    it('print the counts, the next items and the dead letters, and redrive them', async () => {
      const queue = open<string>('jobs', { visTimeout: 30, useDead: true });
      const ids = await queue.putData(['a', 'b', 'c']);
      await queue.failData(await queue.getData(1));
      await open('mail').putData(['m']);

      const stats = await visqHere('stats', '--json');
      expect(stats.code, stats.stderr).toBe(0);
      expect(JSON.parse(stats.stdout)).toMatchObject([
        { queue: 'jobs', ready: 2, inflight: 0, dead: 1 },
        { queue: 'mail', ready: 1 },
      ]);
      const peek = await visqHere('peek', 'jobs', '--json');
      expect(JSON.parse(peek.stdout)).toEqual({ queue: 'jobs', items: [{ id: ids[1], item: 'b' }, { id: ids[2], item: 'c' }] });
      const dead = await visqHere('dead', 'jobs', '--json');
      expect(JSON.parse(dead.stdout)).toEqual({ queue: 'jobs', dead: 1, items: [{ id: ids[0], item: 'a' }] });
      const redrive = await visqHere('dead', 'jobs', '--redrive');
      expect(redrive.stdout.trim()).toBe('Moved 1 dead letter back to "jobs"');
      expect(await queue.stats()).toMatchObject({ ready: 3, dead: 0 });
    });

    it('inspect finds an item by id and a task by its task id', async () => {
      const queue = open<string>('jobs', { visTimeout: 30 });
      const [id = ''] = await queue.putData(['held']);
      await queue.getData(1);
      const item = await visqHere('inspect', 'jobs', id, '--json');
      expect(item.code, item.stderr).toBe(0);
      expect(JSON.parse(item.stdout)).toMatchObject({ queue: 'jobs', id, state: 'inflight', deliveries: 1, item: 'held' });

      const et = await taskApp().add.execute([1, 2]);
      const task = await visqHere('inspect', 'default', et.id);
      expect(task.code, task.stderr).toBe(0);
      expect(task.stdout).toMatch(new RegExp(`^taskId\\s+${et.id}$`, 'm'));
      expect(task.stdout).toMatch(/^taskStatus\s+queued$/m);
    });
  });

  describe('worker', () => {
    it('runs the tasks of a module that opens its own PostgresStore, and exits 0 at the end of its lifetime', async () => {
      const tasks = taskApp();
      const sums = await Promise.all([tasks.add.execute([1, 2]), tasks.add.execute([3, 4])]);
      const { code, stdout, stderr } = await cli.run([
        'worker',
        '--module',
        'test/cli/fixtures/pg-app.ts',
        '--queues',
        'default',
        '--max-tasks',
        '2',
        '--json',
      ]);
      expect(code, stderr).toBe(0);
      expect(await Promise.all(sums.map((et) => et.result()))).toEqual([3, 7]);
      const events = stdout.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
      expect(events.at(-1)).toMatchObject({ event: 'stopped', reason: 'lifetime', runs: 2 });
    });

    it('refuses --pg-url: the module opens the store', async () => {
      const result = await cli.run(['worker', '--module', 'test/cli/fixtures/pg-app.ts', '--pg-url', ctx.url]);
      expect(result.code).toBe(64);
      expect(result.stderr).toContain('--pg-url does not apply');
    });
  });

  describe('serve', () => {
    it('serves the dashboard API and /metrics of the database until SIGTERM', async () => {
      const queue = open<string>('orders');
      await queue.putData(['x', 'y']);
      const child: ChildProcess = start(['serve', '--port', '0', '--json', '--prefix', ctx.prefix]);
      const exit = finished(child);
      const listening = await new Promise<Record<string, unknown>>((resolve, reject) => {
        createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
          const event = JSON.parse(line) as Record<string, unknown>;
          if (event.event === 'listening') resolve(event);
        });
        void exit.then(({ stderr }) => reject(new Error(`visq serve exited before listening: ${stderr}`)), reject);
      });
      const url = String(listening.url);
      const scraped = parseScrape((await send(String(listening.metrics))).text);
      expect(scraped.value('visq_queue_items', { queue: 'orders', state: 'ready' })).toBe(2);
      const list = (await send(`${url}api/queues`)).json<{ queues: { name: string; ready: number }[] }>();
      expect(list.queues).toMatchObject([{ name: 'orders', ready: 2 }]);
      child.kill('SIGTERM');
      const { code, stderr } = await exit;
      expect(code, stderr).toBe(0);
    });
  });
});
