/**
 * `visq worker --machine N --of M` as real processes on the file's private redis-server:
 * two workers split the queues of one app between them, and every task runs exactly once,
 * on the machine its queue hashes to.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { shardOf, Visq } from '../../src/index.js';
import { useStore } from '../harness/context.js';
import { until } from '../tasks/helpers.js';
import { defineShardTasks, SHARD_QUEUES } from './fixtures/shard-tasks.js';

const ctx = useStore();
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MODULE = 'test/cli/fixtures/shard-app.ts';

type Event = Record<string, unknown>;

interface WorkerProcess {
  readonly child: ChildProcess;
  readonly lines: string[];
  readonly ready: Promise<void>;
  readonly exit: Promise<{ code: number | null; stderr: string }>;
}

const running = new Set<ChildProcess>();
const apps: Visq[] = [];

afterEach(async () => {
  for (const child of running) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  running.clear();
  await Promise.all(apps.splice(0).map((app) => app.close()));
});

function startWorker(args: readonly string[]): WorkerProcess {
  const env: NodeJS.ProcessEnv = { ...process.env, REDIS_URL: ctx.server.url, VISQ_PREFIX: ctx.prefix };
  delete env.NODE_OPTIONS;
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'worker', '--module', MODULE, ...args], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  const lines: string[] = [];
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exit = new Promise<{ code: number | null; stderr: string }>((resolve) =>
    child.once('close', (code) => resolve({ code, stderr })),
  );
  const ready = new Promise<void>((resolve, reject) => {
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      lines.push(line);
      if (line.includes('ready')) resolve();
    });
    void exit.then(({ stderr: err }) => reject(new Error(`the worker exited before it was ready: ${err}`)));
  });
  ready.catch(() => undefined);
  return { child, lines, ready, exit };
}

const events = (worker: WorkerProcess): Event[] => worker.lines.map((line) => JSON.parse(line) as Event);

describe.skipIf(ctx.kind !== 'redis')('visq worker --machine N --of M', () => {
  it('two workers split the queues: each task runs exactly once, on the machine of its queue', async () => {
    const workers = [1, 2].map((machine) => startWorker(['--machine', String(machine), '--of', '2', '--json']));
    await Promise.all(workers.map((w) => w.ready));

    const app = new Visq({ redis: ctx.redis, prefix: ctx.prefix });
    apps.push(app);
    const tasks = defineShardTasks(app);
    const enqueued = await Promise.all(tasks.flatMap((task) => Array.from({ length: 10 }, (_, n) => task.execute([n]))));
    await until('every task is done', async () =>
      (await Promise.all(enqueued.map((et) => et.status()))).every((status) => status === 'done'),
    );
    for (const w of workers) w.child.kill('SIGTERM');
    for (const { code, stderr } of await Promise.all(workers.map((w) => w.exit))) expect(code, stderr).toBe(0);

    const [one, two] = workers.map(events) as [Event[], Event[]];
    const served = [one, two].map((e) => e.find((x) => x.event === 'ready')?.queues as string[]);
    expect(served[0]).toEqual(SHARD_QUEUES.filter((q) => shardOf(q, 2) === 1));
    expect(served[1]).toEqual(SHARD_QUEUES.filter((q) => shardOf(q, 2) === 2));
    expect(one.find((x) => x.event === 'ready')).toMatchObject({ shard: { machine: 1, of: 2 } });

    const runs = [one, two].flatMap((list, i) =>
      list.filter((x) => x.event === 'started').map((x) => ({ machine: i + 1, taskId: x.taskId, queue: x.queue as string })),
    );
    expect(runs.map((r) => r.taskId).sort()).toEqual(enqueued.map((et) => et.id).sort());
    for (const run of runs) expect(run.machine).toBe(shardOf(run.queue, 2));
  });

  it('says so when no queue belongs to its machine, idles, and exits 0 at the end of its lifetime', async () => {
    expect(shardOf('images', 2)).toBe(2);
    const worker = startWorker(['--queues', 'images', '--machine', '1', '--of', '2', '--lifetime', '0.3']);
    const { code, stderr } = await worker.exit;
    expect(code, stderr).toBe(0);
    expect(worker.lines[0]).toContain(
      'ready    serving no queue: none of the queues belongs to this machine; idle until stopped (machine 1 of 2,',
    );
  });

  it('exits 64 for a machine outside the fleet, or --machine without --of', async () => {
    const outside = await startWorker(['--machine', '3', '--of', '2']).exit;
    expect(outside.code).toBe(64);
    expect(outside.stderr).toContain('Expected `--machine` to be an integer from 1 to 2, got 3 (number)');
    const alone = await startWorker(['--machine', '1']).exit;
    expect(alone.code).toBe(64);
    expect(alone.stderr).toContain('--machine and --of go together');
  });
});
