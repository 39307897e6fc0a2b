/**
 * The `visq` bin, run as real processes (`node --import tsx src/cli/main.ts ...`) against
 * the file's private redis-server. Every command gets `--redis-url` or `REDIS_URL` of that
 * server and `--prefix` of the current test, so nothing reaches another Redis.
 */
import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { describe, expect, it } from 'vitest';
import { Visq } from '../../src/index.js';
import { useStore } from '../harness/context.js';
import { freePort } from '../harness/redis-server.js';
import { defineTasks } from './fixtures/tasks.js';
import { useCli, type Finished } from './processes.js';

const ctx = useStore();
const APP_MODULE = 'test/cli/fixtures/app.ts';
const cli = useCli(ctx);
const { start, open } = cli;

/** Runs `visq ...args` to its end. */
function visq(args: readonly string[]): Promise<Finished> {
  return cli.run(args);
}

/** `visq ...args --redis-url <this file's server> --prefix <this test's prefix>`. */
function visqHere(...args: string[]): Promise<Finished> {
  return visq([...args, '--redis-url', ctx.server.url, '--prefix', ctx.prefix]);
}

/** A worker process whose `--json` event lines can be awaited as they come. */
function startWorker(args: readonly string[]): {
  child: ChildProcess;
  events: Record<string, unknown>[];
  until: (predicate: (event: Record<string, unknown>) => boolean) => Promise<void>;
  exit: Promise<{ code: number | null; stderr: string }>;
} {
  const child = start(['worker', '--module', APP_MODULE, '--json', ...args]);
  const events: Record<string, unknown>[] = [];
  const waiters = new Set<() => void>();
  let stderr = '';
  let closed = false;
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
    events.push(JSON.parse(line) as Record<string, unknown>);
    for (const wake of waiters) wake();
  });
  const exit = new Promise<{ code: number | null; stderr: string }>((resolve) => {
    child.once('close', (code) => {
      closed = true;
      for (const wake of waiters) wake();
      resolve({ code, stderr });
    });
  });
  const until = (predicate: (event: Record<string, unknown>) => boolean): Promise<void> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        if (events.some(predicate)) {
          waiters.delete(check);
          resolve();
        } else if (closed) {
          waiters.delete(check);
          reject(new Error(`the worker exited before the awaited event; stderr: ${stderr}`));
        }
      };
      waiters.add(check);
      check();
    });
  return { child, events, until, exit };
}

/** The fixture's tasks on an app in this process, to enqueue and to wait on. */
function taskApp(): ReturnType<typeof defineTasks> {
  return defineTasks(cli.track(new Visq({ redis: ctx.redis, prefix: ctx.prefix })));
}

describe.skipIf(ctx.kind !== 'redis')('visq CLI', () => {
  describe('usage', () => {
    it('prints the usage with --help and exits 0', async () => {
      const result = await visq(['--help']);
      expect(result.code).toBe(0);
      expect(result.stdout).toContain('Usage: visq <command>');
      expect(result.stdout).toContain('Exit codes:');
      for (const command of ['worker', 'stats', 'peek', 'dead', 'inspect']) expect(result.stdout).toContain(command);
    });

    it("prints a command's usage with `<command> --help`", async () => {
      const result = await visq(['dead', '--help']);
      expect(result.code).toBe(0);
      expect(result.stdout).toContain('Usage: visq dead <queue>');
      expect(result.stdout).toContain('--redrive');
    });

    it('exits 64 with the usage on stderr for an unknown command', async () => {
      const result = await visq(['frobnicate']);
      expect(result.code).toBe(64);
      expect(result.stdout).toBe('');
      expect(result.stderr).toContain('unknown command "frobnicate"');
      expect(result.stderr).toContain('Usage: visq <command>');
    });

    it('suggests the command or option meant when one was mistyped', async () => {
      // more cases, in process, in suggest.test.ts
      const cases: [string[], string][] = [
        [['stat'], 'visq: unknown command "stat"; did you mean "stats"?'],
        [['worker', '--module', APP_MODULE, '--concurency', '5'], "visq worker: Unknown option '--concurency'; did you mean '--concurrency'?"],
      ];
      const results = await Promise.all(cases.map(([args]) => visq(args)));
      for (const [i, [args, message]] of cases.entries()) {
        const result = results[i] as Finished;
        expect(result.code, args.join(' ')).toBe(64);
        expect(result.stderr.split('\n')[0]).toBe(message);
        expect(result.stderr).toContain('Usage: visq');
      }
    });

    it('exits 64 for an unknown option, a missing argument or a bad number', async () => {
      const cases: [string[], RegExp][] = [
        [['stats', '--bogus'], /Unknown option '--bogus' \(an argument that starts with '-' goes after '--', as in: -- --bogus\)/],
        [['peek'], /Missing argument <queue>/],
        [['dead', 'q', '--limit', 'lots'], /Expected `--limit` to be an integer from 1 to 1000, got "lots" \(string\)/],
        [['worker', '--module', APP_MODULE, '--redis-url', 'redis://x'], /--redis-url does not apply/],
      ];
      const results = await Promise.all(cases.map(([args]) => visq(args)));
      for (const [i, [args, message]] of cases.entries()) {
        const result = results[i] as Finished;
        expect(result.code, args.join(' ')).toBe(64);
        expect(result.stderr).toMatch(message);
        expect(result.stderr).toContain('Usage: visq');
      }
    });

    it('exits 2 with a clear message when Redis cannot be reached', async () => {
      const url = `redis://127.0.0.1:${await freePort()}`;
      const result = await visq(['stats', '--redis-url', url]);
      expect(result.code).toBe(2);
      expect(result.stderr).toContain(`Cannot connect to Redis at ${url}`);
    });
  });

  describe('stats', () => {
    it("prints one queue's counts, as a table and as JSON", async () => {
      const queue = open('jobs', { visTimeout: 30 });
      await queue.putData(['a', 'b', 'c']);
      await queue.putData(['later'], { delay: 60 });
      await queue.getData(1);

      const [table, json] = await Promise.all([visqHere('stats', 'jobs'), visqHere('stats', 'jobs', '--json')]);
      expect(table.code).toBe(0);
      expect(table.stdout.split('\n')[0]).toMatch(/^queue\s+ready\s+delayed\s+inflight\s+dead\s+expired\s+dropped$/);
      expect(table.stdout).toMatch(/^jobs\s+2\s+1\s+1\s+0\s+0\s+0$/m);
      // the JSON carries every stats field: the counts and the running totals
      expect(JSON.parse(json.stdout)).toMatchObject({ queue: 'jobs', ready: 2, delayed: 1, inflight: 1, dead: 0, expired: 0, dropped: 0, puts: 4 });
    });

    it('finds every queue under the prefix, leaving dead-letter queues to their queue', async () => {
      // glob characters in the prefix match only themselves
      const prefix = `${ctx.prefix}-[a]*`;
      const jobs = open('jobs', { prefix, visTimeout: 30, useDead: true });
      await jobs.putData(['a', 'b']);
      await jobs.failData(await jobs.getData(1));
      await open('mail', { prefix }).putData(['m']);
      // neither a prefix the unescaped pattern would match, nor one that starts with this one
      await open('other', { prefix: `${ctx.prefix}-a-x` }).putData(['o']);
      await open('other', { prefix: `${prefix}x` }).putData(['o']);

      const result = await visq(['stats', '--json', '--prefix', prefix]); // Redis from REDIS_URL
      expect(result.code).toBe(0);
      const found = JSON.parse(result.stdout) as unknown[];
      expect(found).toHaveLength(2);
      expect(found).toMatchObject([
        { queue: 'jobs', ready: 1, delayed: 0, inflight: 0, dead: 1, expired: 0, dropped: 0 },
        { queue: 'mail', ready: 1, delayed: 0, inflight: 0, dead: 0, expired: 0, dropped: 0 },
      ]);
    });

    it('says so when no queue exists under the prefix', async () => {
      const result = await visqHere('stats');
      expect(result.code).toBe(0);
      expect(result.stdout).toContain('No queues under the prefix');
    });
  });

  describe('peek', () => {
    it('shows the next visible items by id without touching them', async () => {
      const queue = open('jobs');
      const ids = await queue.putData([{ n: 1 }, { n: 2 }, { n: 3 }]);

      const [table, json] = await Promise.all([visqHere('peek', 'jobs', '2'), visqHere('peek', 'jobs', '--json')]);
      expect(table.code).toBe(0);
      expect(table.stdout.trim().split('\n')).toEqual([
        expect.stringMatching(/^id\s+item$/),
        expect.stringMatching(new RegExp(`^${ids[0]}\\s+\\{"n":1\\}$`)),
        expect.stringMatching(new RegExp(`^${ids[1]}\\s+\\{"n":2\\}$`)),
      ]);
      expect(JSON.parse(json.stdout)).toEqual({
        queue: 'jobs',
        items: ids.map((id, i) => ({ id, item: { n: i + 1 } })),
      });
      expect((await queue.stats()).ready).toBe(3);
    });
  });

  describe('dead', () => {
    it('shows dead letters, and --redrive moves them back', async () => {
      const queue = open<string>('jobs', { visTimeout: 30, useDead: true });
      const ids = await queue.putData(['a', 'b', 'c']);
      await queue.failData(await queue.getData(3));

      const [shown, table] = await Promise.all([visqHere('dead', 'jobs', '--limit', '2', '--json'), visqHere('dead', 'jobs')]);
      expect(shown.code).toBe(0);
      expect(JSON.parse(shown.stdout)).toEqual({
        queue: 'jobs',
        dead: 3,
        items: [
          { id: ids[0], item: 'a' },
          { id: ids[1], item: 'b' },
        ],
      });
      expect(table.stdout).toContain(`${ids[2]}  "c"`);

      const one = await visqHere('dead', 'jobs', '--redrive', '--limit', '1');
      expect(one.code).toBe(0);
      expect(one.stdout.trim()).toBe('Moved 1 dead letter back to "jobs"');
      const rest = await visqHere('dead', 'jobs', '--redrive', '--json');
      expect(JSON.parse(rest.stdout)).toEqual({ queue: 'jobs', moved: 2 });
      expect(await queue.stats()).toMatchObject({ ready: 3, dead: 0 });
    });
  });

  describe('inspect', () => {
    it('finds an item in each state', async () => {
      const queue = open<string>('jobs', { visTimeout: 30, useDead: true });
      const [inflight = '', dead = ''] = await queue.putData(['inflight', 'dead']);
      const deliveries = await queue.getDeliveries(2);
      await queue.failData(deliveries.filter((d) => d.item === 'dead').map((d) => d.lease));
      const [ready = ''] = await queue.putData(['ready']);
      const [delayed = ''] = await queue.putData(['delayed'], { delay: 60 });

      // the in-flight one is read as JSON below
      const expected: [string, string, RegExp][] = [
        [ready, 'ready', /^item\s+"ready"$/m],
        [delayed, 'delayed', /^visibleAt\s+\d{4}-\d\d-\d\dT/m],
        [dead, 'dead', /^item\s+"dead"$/m],
      ];
      const [json, ...tables] = await Promise.all([
        visqHere('inspect', 'jobs', inflight, '--json'),
        ...expected.map(([id]) => visqHere('inspect', 'jobs', id)),
      ]);
      for (const [i, [, state, detail]] of expected.entries()) {
        const table = tables[i] as Finished;
        expect(table.code, state).toBe(0);
        expect(table.stdout).toMatch(new RegExp(`^state\\s+${state}$`, 'm'));
        expect(table.stdout).toMatch(detail);
      }

      const info = JSON.parse(json.stdout) as Record<string, unknown>;
      expect(info).toMatchObject({ queue: 'jobs', id: inflight, state: 'inflight', deliveries: 1, priority: 0, item: 'inflight' });
      expect(new Date(String(info.leaseUntil)).getTime()).toBeGreaterThan(0);
      expect(typeof info.lease).toBe('string');
    });

    it('finds a queued task by its task id, the id of its item', async () => {
      const tasks = taskApp();
      const et = await tasks.add.execute([1, 2]);
      const result = await visqHere('inspect', 'default', et.id);
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout).toMatch(new RegExp(`^id\\s+${et.id}$`, 'm'));
      expect(result.stdout).toMatch(/^state\s+ready$/m);
      expect(result.stdout).toMatch(new RegExp(`^taskId\\s+${et.id}$`, 'm'));
      expect(result.stdout).toMatch(/^taskStatus\s+queued$/m);
    });

    it('exits 1 with a message when the item is not found', async () => {
      await open('jobs').putData(['a']);
      const result = await visqHere('inspect', 'jobs', 'no-such-id');
      expect(result.code).toBe(1);
      expect(result.stdout).toBe('');
      expect(result.stderr).toContain('No item or task "no-such-id" in the queue "jobs" or its dead letters (prefix');
    });
  });

  describe('worker', () => {
    it('runs the tasks of the module, prints their events and exits 0 at the end of its lifetime', async () => {
      const tasks = taskApp();
      const sums = await Promise.all([tasks.add.execute([1, 2]), tasks.add.execute([3, 4])]);
      const failing = await tasks.fail.execute([]);

      const worker = startWorker(['--queues', 'default', '--max-tasks', '3']);
      const { code, stderr } = await worker.exit;
      expect(code, stderr).toBe(0);

      for (const et of sums) expect(await et.wait(5)).toBe(true);
      expect(await Promise.all(sums.map((et) => et.result()))).toEqual([3, 7]);
      expect(await failing.status()).toBe('failed');
      const kinds = worker.events.map((e) => `${String(e.event)}${e.task ? ` ${String(e.task)}` : ''}`);
      expect(kinds[0]).toBe('ready');
      expect(kinds.filter((k) => k === 'done add')).toHaveLength(2);
      expect(kinds).toContain('failed fail');
      expect(worker.events).toContainEqual(expect.objectContaining({ event: 'dead', taskId: failing.id, deadLettered: true }));
      expect(worker.events.at(-1)).toMatchObject({ event: 'stopped', reason: 'lifetime', runs: 3 });
      expect((await visqHere('dead', 'default', '--json')).stdout).toContain(failing.id);
    });

    it('exits 0 when its lifetime in seconds ends, with nothing to do', async () => {
      const { code, stderr } = await visq(['worker', '--module', APP_MODULE, '--lifetime', '0.2', '--quiet']);
      expect(code, stderr).toBe(0);
    });

    it('stops gracefully on SIGTERM: running tasks finish, the rest stay queued, none in flight', async () => {
      const tasks = taskApp();
      const enqueued = await Promise.all(Array.from({ length: 16 }, () => tasks.slow.execute([250])));

      const worker = startWorker(['--queues', 'slow', '--concurrency', '2', '--prefetch', '4']);
      await worker.until((e) => e.event === 'done');
      worker.child.kill('SIGTERM');
      const { code, stderr } = await worker.exit;
      expect(code, stderr).toBe(0);

      const started = worker.events.filter((e) => e.event === 'started').map((e) => e.taskId);
      const done = worker.events.filter((e) => e.event === 'done').map((e) => e.taskId);
      expect(done.sort()).toEqual(started.sort());
      expect(worker.events).toContainEqual(expect.objectContaining({ event: 'stopping', signal: 'SIGTERM' }));
      expect(worker.events.at(-1)).toMatchObject({ event: 'stopped', reason: 'signal', runs: done.length });

      const statuses = await Promise.all(enqueued.map((et) => et.status()));
      expect(statuses.filter((s) => s === 'done')).toHaveLength(done.length);
      // at 2 at a time the signal comes seconds before the last of the 16 could start
      expect(done.length).toBeLessThan(16);
      expect(statuses.filter((s) => s === 'queued')).toHaveLength(16 - done.length);
      expect(await open('slow').stats()).toMatchObject({ ready: 16 - done.length, delayed: 0, inflight: 0, dead: 0 });
    });

    it('exits 130 at once on a second SIGINT', async () => {
      const tasks = taskApp();
      await tasks.slow.execute([60_000]);
      const worker = startWorker(['--queues', 'slow']);
      await worker.until((e) => e.event === 'started');
      worker.child.kill('SIGINT');
      await worker.until((e) => e.event === 'stopping');
      worker.child.kill('SIGINT');
      expect((await worker.exit).code).toBe(130);
    });

    it("exits 2 before `ready` when the module's Redis cannot be reached, naming it without its password", async () => {
      const port = await freePort();
      const [refused, refusedUser] = await Promise.all([
        cli.run(['worker', '--module', APP_MODULE], { REDIS_URL: `redis://127.0.0.1:${port}` }),
        cli.run(['worker', '--module', APP_MODULE], { REDIS_URL: `redis://nobody:s3cret@127.0.0.1:${ctx.server.port}/1` }),
      ]);
      expect(refused.code).toBe(2);
      expect(refused.stdout).toBe('');
      // the whole of stderr: no ioredis "Unhandled error event" traces beside the message
      expect(refused.stderr).toBe(`visq worker: Cannot connect to Redis at redis://127.0.0.1:${port}: connect ECONNREFUSED 127.0.0.1:${port}\n`);
      expect(refusedUser.code).toBe(2);
      expect(refusedUser.stdout).toBe('');
      expect(refusedUser.stderr).toMatch(
        new RegExp(`^visq worker: Cannot connect to Redis at redis://nobody:\\*\\*\\*@127\\.0\\.0\\.1:${ctx.server.port}/1: WRONGPASS[^\\n]*\\n$`),
      );
    });

    it('exits 1 when the module exports no Visq app', async () => {
      const result = await visq(['worker', '--module', 'test/cli/fixtures/no-app.ts']);
      expect(result.code).toBe(1);
      expect(result.stderr).toContain('exports no Visq app: export it as `default` or as `app` (it exports `answer`)');
    });
  });
});
