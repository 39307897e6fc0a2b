/**
 * A command sent twice. When a connection drops while a command is out, ioredis sends it
 * again after reconnecting (`autoResendUnfulfilledCommands`, on by default), so Redis may
 * run a visq script twice while the caller sees the second answer only. The chaos run
 * does this with CLIENT KILL and restarts, and with clients that resend at random; here a
 * client that sends some scripts twice on purpose (resend.ts) makes the cases exact.
 * Nothing may be lost, nothing may run twice that runs at most once, and no counter may
 * count a repeat; what each call answers is checked as well.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { DataQueue, taskContext, Visq, type EnqueuedTask, type QueueStats, type TaskMetrics } from '../../src/index.js';
import { startRedisServer, type RedisServer } from '../harness/redis-server.js';
import { selectedKind } from '../harness/store-kind.js';
import { mentions, resending } from './resend.js';

/** The counters a test compares: the queue's totals and counts, and each task's metrics. */
function counters(stats: QueueStats, metrics: readonly TaskMetrics[]): Record<string, number | number[]> {
  const { ready, delayed, inflight, dead, puts, deliveries, dones, deadLettered, dropped } = stats;
  const tasks = Object.fromEntries(metrics.map((m) => [m.task, [m.started, m.done, m.failed, m.retried]]));
  return { ready, delayed, inflight, dead, puts, deliveries, dones, deadLettered, dropped, ...tasks };
}

// it runs on a redis-server of its own
describe.runIf(selectedKind() === 'redis')('a visq script sent twice, as after a dropped connection', () => {
  let server: RedisServer;
  let redis: Redis;
  const apps: Visq[] = [];
  let prefixes = 0;

  beforeAll(async () => {
    server = await startRedisServer();
    redis = server.client();
  });

  afterEach(async () => {
    await Promise.all(apps.splice(0).map((app) => app.close()));
  });

  afterAll(async () => {
    await server?.stop();
  });

  /** An app on `client` under a prefix of its own, closed after the test. */
  function appOn(client: Redis): Visq {
    prefixes += 1;
    const app = new Visq({ redis: client, prefix: `resend${prefixes}` });
    apps.push(app);
    return app;
  }

  /** The same app's tasks, on a client that sends nothing twice (for reading). */
  function reader(app: Visq): Visq {
    const plain = new Visq({ redis, prefix: app.prefix });
    apps.push(plain);
    return plain;
  }

  it('a done sent twice finishes the item once; its answer can say 0', async () => {
    const { redis: twice, resent } = resending(redis, (script) => script === 'done');
    const queue = new DataQueue(twice, 'done-twice', { visTimeout: 30 });
    await queue.putData(['x']);
    const [delivery] = await queue.getDeliveries(1);
    // the first run finished it; the repeat found the lease gone (docs/operations.md)
    expect(await queue.doneData([delivery?.lease ?? ''])).toBe(0);
    expect(resent.get('done')).toBe(1);
    expect(await queue.stats()).toMatchObject({ ready: 0, inflight: 0, delayed: 0 });
    await queue.close();
  });

  // Issue 22 (task layer, 3): an execute sent twice used to put a second item with the
  // same task id. An at-most-once task with two attempts then ran twice; one with a single
  // attempt had its successful run marked failed by the second item, and dead letters
  // written. Now the enqueue script finds the record the first one wrote and puts nothing.
  it('an execute sent twice puts its task once: it runs once, at most once or not', async () => {
    const marker = `resent-${Date.now()}`;
    const { redis: twice, resent } = resending(redis, (_script, args) => mentions(args, marker));
    const app = appOn(twice);
    const runs = new Map<string, number>();
    const run = (_marker: string): string => {
      const name = taskContext()?.task ?? '';
      runs.set(name, (runs.get(name) ?? 0) + 1);
      return 'ran';
    };
    const onceTwice = app.task('once-2', run, { attempts: 2 });
    const onceDead = app.task('once-1', run, { attempts: 1, useDead: true });
    const leased = app.task('leased-1', run, { visTimeout: 5, attempts: 1, useDead: true });
    const tasks: EnqueuedTask<string>[] = [];
    for (const task of [onceTwice, onceDead, leased]) tasks.push(await task.execute([marker]));
    expect(resent.get('tasks/enqueue')).toBe(3);
    expect(await app.queue().stats()).toMatchObject({ ready: 3, inflight: 0 });

    const worker = app.worker({ concurrency: 3 });
    for (const et of tasks) expect(await et.wait(10)).toBe(true);
    await worker.close();
    for (const et of tasks) expect(await et.record()).toMatchObject({ state: 'done', attempt: 1 });
    expect(Object.fromEntries(runs)).toEqual({ 'once-2': 1, 'once-1': 1, 'leased-1': 1 });
    const plain = reader(app);
    expect(counters(await plain.queue().stats(), await plain.taskMetrics())).toEqual({
      ready: 0, delayed: 0, inflight: 0, dead: 0, puts: 3, deliveries: 3, dones: 3, deadLettered: 0, dropped: 0,
      'once-2': [1, 1, 0, 0], 'once-1': [1, 1, 0, 0], 'leased-1': [1, 1, 0, 0],
    });
  });

  // Issue 22 (task layer, 4): the take of an at-most-once task sent twice answered "not
  // taken" the second time: the worker dropped the task before it ran, and its record
  // stayed queued for days. Now a claim carries a token, and the same claim sent again
  // answers what the first one claimed: started runs, and held tasks to start later.
  it('a claim sent twice answers what it claimed: every task runs once', async () => {
    const { redis: twice, resent } = resending(redis, (script) => script === 'tasks/claim');
    const app = appOn(twice);
    const runs = new Map<string, number>();
    const run = (): void => {
      const id = taskContext()?.taskId ?? '';
      runs.set(id, (runs.get(id) ?? 0) + 1);
    };
    const once = app.task('once', run);
    const leased = app.task('leased', run, { visTimeout: 5, attempts: 2 });
    const tasks = [...(await once.executeMany([[], [], []])), ...(await leased.executeMany([[], [], []]))];
    // two run at once: the other four are held, and started by later settles
    const worker = app.worker({ concurrency: 2, prefetch: 6 });
    for (const et of tasks) expect(await et.wait(10)).toBe(true);
    await worker.close();
    expect(resent.get('tasks/claim')).toBeGreaterThan(0);
    for (const et of tasks) expect(await et.record()).toMatchObject({ state: 'done', attempt: 1 });
    expect(tasks.map((et) => runs.get(et.id))).toEqual(tasks.map(() => 1));
    const plain = reader(app);
    expect(counters(await plain.queue().stats(), await plain.taskMetrics())).toEqual({
      ready: 0, delayed: 0, inflight: 0, dead: 0, puts: 6, deliveries: 6, dones: 6, deadLettered: 0, dropped: 0,
      once: [3, 3, 0, 0], leased: [3, 3, 0, 0],
    });
  });

  // Found here: the `started` transition counted a run each time it was applied, so a
  // start sent twice counted two runs for one, and on the last allowed attempt marked a
  // healthy task failed. A settle sent twice changes nothing the first did not: a start
  // under the same lease is acknowledged, a done, a retry or a failure already applied is
  // not applied again, and nothing is counted twice.
  it('a settle sent twice (starts, dones, retries, failures) applies and counts each op once', async () => {
    const { redis: twice, resent } = resending(redis, (script) => script === 'tasks/settle');
    const app = appOn(twice);
    const ok = app.task('ok', () => 'ok', { visTimeout: 5, attempts: 1, saveResults: 60 });
    const flaky = app.task('flaky', () => {
      if (taskContext()?.attempt === 1) throw new Error('not yet');
      return 'ok';
    }, { visTimeout: 5, attempts: 2 });
    const doomed = app.task('doomed', () => {
      throw new Error('never');
    }, { attempts: 2, useDead: true });
    // one run at a time: the others are held, so they are started by settle ops too
    const worker = app.worker({ concurrency: 1, prefetch: 4 });
    const dead = new Promise((resolve) => worker.once('dead', resolve));
    const tasks = [await ok.execute([]), await flaky.execute([]), await doomed.execute([]), await ok.execute([])];
    for (const et of tasks) expect(await et.wait(10)).toBe(true);
    expect(await dead).toMatchObject({ taskId: tasks[2]?.id, attempt: 2, deadLettered: true });
    await worker.close();
    expect(resent.get('tasks/settle')).toBeGreaterThan(0);
    expect(await Promise.all(tasks.map(async (et) => [(await et.record())?.state, (await et.record())?.attempt]))).toEqual([
      ['done', 1], ['done', 2], ['failed', 2], ['done', 1],
    ]);
    expect(await tasks[0]?.result()).toBe('ok');
    const plain = reader(app);
    expect(counters(await plain.queue().stats(), await plain.taskMetrics())).toEqual({
      ready: 0, delayed: 0, inflight: 0, dead: 1, puts: 4, deliveries: 6, dones: 3, deadLettered: 1, dropped: 0,
      ok: [2, 2, 0, 0], flaky: [2, 1, 0, 1], doomed: [2, 0, 1, 1],
    });
  });
});
