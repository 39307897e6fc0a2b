/**
 * What only the PostgresStore's task side has to prove beyond the shared task suites:
 * `execute(args, { db })` inside the caller's transaction (visible to workers at COMMIT,
 * gone after ROLLBACK), a claim sent again answered from its token, a settle batch that
 * names one task twice applied in order, workers of many stores never running a task
 * twice, the task event connection coming back after it is killed, and queue names too
 * long for a channel name.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { Visq, type Worker } from '../../../src/index.js';
import { queueBase } from '../../../src/data/keys.js';
import { taskStoreOf, type TaskSpec, type TaskStore } from '../../../src/tasks/task-store.js';
import { usePostgres } from './helpers.js';

const pgx = usePostgres();

const apps: Visq[] = [];
const taskStores: TaskStore[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close()));
  await Promise.all(taskStores.splice(0).map((tasks) => tasks.close()));
});

function app(store = pgx.main): Visq {
  const made = new Visq({ store, prefix: pgx.prefix });
  apps.push(made);
  return made;
}

function worker(of: Visq, options: Parameters<Visq['worker']>[0] = {}): Worker {
  return of.worker({ shutdownTimeout: 0.5, ...options });
}

/** The task store seam of the file's store, for the steps a worker takes. */
function seam(): TaskStore {
  const tasks = taskStoreOf('store', pgx.main);
  taskStores.push(tasks);
  return tasks;
}

const SPEC: TaskSpec = {
  name: 'job',
  attempts: 3,
  visTimeoutMs: 30_000,
  useDead: false,
  finishedKeepMs: 60_000,
  resultMs: 60_000,
  retryDelayMs: 0,
};

async function enqueueOne(tasks: TaskStore, base: string, taskId: string): Promise<void> {
  await tasks.enqueue(base, { task: 'job', tasks: [{ taskId, payload: '{"t":"job","a":[]}' }], delayMs: 0, priority: 0 });
}

describe('execute in a transaction', () => {
  it('makes the task visible to workers at COMMIT, with its status', async () => {
    const mailer = app();
    const mail = mailer.task('mail', (to: string) => `sent to ${to}`, { saveResults: 60 });
    const et = await pgx.transaction(async (client) => {
      const enqueued = await mail.execute(['ada'], { db: client });
      // not there for anyone outside the transaction yet
      expect(await enqueued.status()).toBe('unknown');
      expect(await mailer.queue().stats()).toMatchObject({ ready: 0 });
      return enqueued;
    });
    expect(await et.status()).toBe('queued');
    worker(mailer);
    expect(await et.wait(10)).toBe(true);
    expect(await et.result()).toBe('sent to ada');
  });

  it('leaves nothing after ROLLBACK: no item, no record, nothing for a worker to run', async () => {
    const mailer = app();
    let runs = 0;
    const mail = mailer.task('mail', (_to: string) => {
      runs += 1;
    });
    const attempt = pgx.transaction(async (client) => {
      const ets = await mail.executeMany([['a'], ['b']], { db: client });
      throw Object.assign(new Error('order declined'), { ets });
    });
    const error = (await attempt.catch((e: unknown) => e)) as { ets: { status(): Promise<string> }[] };
    for (const et of error.ets) expect(await et.status()).toBe('unknown');
    expect(await mailer.queue().stats()).toMatchObject({ ready: 0, delayed: 0, puts: 0 });
    const running = worker(mailer);
    await sleep(100);
    await running.close();
    expect(runs).toBe(0);
  });

  it('wakes a worker blocked on the empty queue at COMMIT', async () => {
    const producer = app();
    const consumer = app(pgx.store());
    const ran: string[] = [];
    producer.task('mail', () => undefined);
    consumer.task('mail', (to: string) => {
      ran.push(to);
    });
    const busy = worker(consumer);
    await sleep(100);
    const et = await pgx.transaction(async (client) => producer.getTask('mail')?.execute(['ada'], { db: client }));
    expect(await et?.wait(5)).toBe(true);
    expect(ran).toEqual(['ada']);
    await busy.close();
  });
});

describe('claim', () => {
  it('answers a claim sent again from its token: what it claimed, still live, and nothing more', async () => {
    const tasks = seam();
    const base = queueBase(pgx.prefix, 'default');
    for (const id of ['a', 'b', 'c']) await enqueueOne(tasks, base, id);
    const request = { count: 2, start: 1, leaseMs: 30_000, token: 'claim-1', specs: [SPEC] };
    const first = await tasks.claim(base, request);
    expect(first.tasks.map((task) => [task.id, task.kind, task.attempt])).toEqual([
      ['a', 'started', 1],
      ['b', 'held', 0],
    ]);
    const again = await tasks.claim(base, request);
    expect(again.tasks).toEqual(first.tasks);
    // its starts are not counted twice, and the third task is still there
    expect(await tasks.read(base, 'a')).toMatchObject({ state: 'started', attempt: 1 });
    expect(await tasks.read(base, 'c')).toMatchObject({ state: 'queued' });
    const other = await tasks.claim(base, { ...request, token: 'claim-2' });
    expect(other.tasks.map((task) => task.id)).toEqual(['c']);
  });

  it('hands a task to one worker of many, across stores, once', async () => {
    const producer = app();
    const job = producer.task('job', () => undefined);
    const ets = await job.executeMany(Array.from({ length: 300 }, (_, i) => [i] as never));
    const runs = new Map<string, number>();
    const workers = [pgx.main, pgx.store(), pgx.store()].map((store) => {
      const consumer = app(store);
      consumer.task('job', () => undefined);
      const each = worker(consumer, { concurrency: 20 });
      each.on('started', ({ taskId }) => runs.set(taskId, (runs.get(taskId) ?? 0) + 1));
      return each;
    });
    for (const et of ets) expect(await et.wait(20)).toBe(true);
    await Promise.all(workers.map((each) => each.close()));
    expect(runs.size).toBe(300);
    expect(Math.max(...runs.values())).toBe(1);
  });
});

describe('settle', () => {
  it('applies ops on one task in one batch in order (the batch is split into rounds)', async () => {
    const tasks = seam();
    const base = queueBase(pgx.prefix, 'default');
    await enqueueOne(tasks, base, 'x');
    const [held] = (await tasks.claim(base, { count: 1, start: 0, leaseMs: 30_000, token: 't', specs: [SPEC] })).tasks;
    expect(held?.kind).toBe('held');
    const lease = held?.lease ?? '';
    const outcomes = await tasks.settle(
      base,
      [
        { kind: 'start', lease, taskId: 'x', task: 'job', firstDelivery: true },
        { kind: 'retry', lease, taskId: 'x', task: 'job', attempt: 1, error: 'first run failed', runMs: 3 },
      ],
      [SPEC],
    );
    expect(outcomes).toEqual([
      { applied: true, state: 'started', attempt: 1, deadLettered: false },
      { applied: true, state: 'queued', attempt: 1, deadLettered: false },
    ]);
    expect(await tasks.read(base, 'x')).toMatchObject({ state: 'queued', attempt: 1, error: 'first run failed' });
    expect((await tasks.recentFailures(base, 5)).map((f) => [f.taskId, f.attempt, f.final])).toEqual([['x', 1, false]]);
  });
});

describe('task events', () => {
  it('come again after their connection is killed: a waiter then hears of its task', async () => {
    const producer = app(pgx.store());
    const job = producer.task('job', () => 'ran');
    const et = await job.execute([]);
    const waiting = et.wait(20);
    await sleep(100);
    // the store's connections are named after the pool's application_name ('visq' by default)
    const { rows } = await pgx.pool.query(
      "SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'visq:events'",
    );
    expect((rows[0] as { n: number }).n).toBeGreaterThan(0);
    const consumer = app(pgx.store());
    consumer.task('job', () => 'ran');
    worker(consumer);
    expect(await waiting).toBe(true);
  });

  it('reach a waiter on a queue whose name is too long for a channel name', async () => {
    const long = 'q'.repeat(250);
    const producer = app();
    const job = producer.task('job', () => 'ran', { queue: long });
    const et = await job.execute([]);
    const waiting = et.wait(20);
    const consumer = app(pgx.store());
    consumer.task('job', () => 'ran', { queue: long });
    worker(consumer);
    expect(await waiting).toBe(true);
    expect(await et.status()).toBe('done');
  });
});
