import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { ClosedError } from '../../src/index.js';
import { useStore } from '../harness/context.js';
import { useTaskApps } from './helpers.js';

const ctx = useStore();
const t = useTaskApps(ctx);

/** How many times the server ran `command` so far. */
async function calls(command: string): Promise<number> {
  const stats = await ctx.redis.info('commandstats');
  return Number(new RegExp(`^cmdstat_${command}:calls=(\\d+)`, 'm').exec(stats)?.[1] ?? 0);
}

// Waits are far longer than a test may run: only the event under test can end them in time.
const LONG_WAIT = 60;

describe('EnqueuedTask.wait', () => {
  it('resolves true once the task is done', async () => {
    const app = t.app();
    const job = app.task('job', () => 'ok');
    const et = await job.execute([]);
    const waited = et.wait(LONG_WAIT);
    t.worker(app);
    expect(await waited).toBe(true);
    expect(await et.status()).toBe('done');
  });

  it('resolves true for a task that failed: status() tells which', async () => {
    const app = t.app();
    const job = app.task('job', () => {
      throw new Error('bad');
    });
    t.worker(app);
    const et = await job.execute([]);
    expect(await et.wait(LONG_WAIT)).toBe(true);
    expect(await et.status()).toBe('failed');
  });

  it('resolves true for a task cancelled while waiting', async () => {
    const app = t.app();
    const job = app.task('job', () => 'ok');
    const et = await job.execute([]);
    const waited = et.wait(LONG_WAIT);
    await sleep(20);
    expect(await et.cancel()).toBe(true);
    expect(await waited).toBe(true);
  });

  it('resolves false when the time is up and nobody ran the task', async () => {
    const app = t.app();
    const job = app.task('job', () => 'ok');
    const et = await job.execute([]);
    expect(await et.wait(0.1)).toBe(false);
    expect(await et.wait(0)).toBe(false);
    expect(await et.status()).toBe('queued');
  });

  it('resolves at once for a task that finished before the wait', async () => {
    const app = t.app();
    const job = app.task('job', () => 'ok');
    const worker = t.worker(app);
    const et = await job.execute([]);
    expect(await et.wait(LONG_WAIT)).toBe(true);
    await worker.close();
    expect(await et.wait(0)).toBe(true);
    expect(await et.wait(0, { until: 'started' })).toBe(true);
  });

  it('resolves false after the time for an id nobody enqueued', async () => {
    expect(await t.app().enqueuedTask(randomUUID()).wait(0.1)).toBe(false);
  });

  it("with until: 'started', resolves true once the task runs, before it finishes", async () => {
    const app = t.app();
    const gate = t.gate();
    const job = app.task('job', async () => {
      await gate.pass();
    });
    const et = await job.execute([]);
    const started = et.wait(LONG_WAIT, { until: 'started' });
    const finished = et.wait(LONG_WAIT);
    t.worker(app);
    expect(await started).toBe(true);
    expect(await et.status()).toBe('started');
    let settled = false;
    void finished.then(() => {
      settled = true;
    });
    await sleep(50);
    expect(settled).toBe(false);
    gate.open();
    expect(await finished).toBe(true);
  });

  it('resolves from another app on another connection when a worker elsewhere finishes the task', async () => {
    const producer = t.app();
    const job = producer.task('job', (n: number) => n + 1, { saveResults: 60 });
    const et = await job.execute([41]);

    const watcher = t.appElsewhere();
    const handle = watcher.enqueuedTask<number>(et.id);
    const waited = handle.wait(LONG_WAIT);
    const runner = t.appElsewhere();
    runner.task('job', (n: number) => n + 1, { saveResults: 60 });
    t.worker(runner);
    expect(await waited).toBe(true);
    expect(await handle.result()).toBe(42);
  });

  it('resolves false when its signal aborts, whatever time is left', async () => {
    const app = t.app();
    const job = app.task('job', () => 'ok');
    const et = await job.execute([]);
    const controller = new AbortController();
    const waited = et.wait(LONG_WAIT, { signal: controller.signal });
    await sleep(20);
    controller.abort();
    expect(await waited).toBe(false);
    expect(await et.wait(LONG_WAIT, { signal: AbortSignal.abort() })).toBe(false);
  });

  // counts Redis commands
  it.runIf(ctx.kind === 'redis')('waits without polling the store', async () => {
    const app = t.app();
    const job = app.task('job', () => 'ok');
    const et = await job.execute([]);
    const waited = et.wait(LONG_WAIT);
    await sleep(50);
    const reads = await calls('hgetall');
    await sleep(300);
    expect(await calls('hgetall')).toBe(reads);
    expect(await et.cancel()).toBe(true);
    expect(await waited).toBe(true);
  });

  it('wakes every waiter of a busy queue, each for its own task', async () => {
    const app = t.app();
    const gate = t.gate();
    const job = app.task('job', async (n: number) => {
      await gate.pass();
      return n;
    });
    const tasks = await job.executeMany(Array.from({ length: 40 }, (_, i) => [i] as [number]));
    t.worker(app, { concurrency: 40 });
    expect(await Promise.all(tasks.map((et) => et.wait(LONG_WAIT, { until: 'started' })))).toEqual(tasks.map(() => true));
    // fresh app: its waiters share one subscriber connection that is not connected yet
    const watcher = t.appElsewhere();
    const waits = tasks.map((et) => watcher.enqueuedTask(et.id).wait(5));
    gate.open();
    expect(await Promise.all(waits)).toEqual(tasks.map(() => true));
  });

  // Issue 22 (task layer, 10): a wait after app.close() used to open a pub/sub connection
  // that nothing closed any more, and so held the process open.
  it('throws ClosedError once its app is closed, opening no connection', async () => {
    const app = t.app();
    const job = app.task('job', () => 'ok');
    const et = await job.execute([]);
    const rebuilt = app.enqueuedTask(et.id);
    await app.close();
    // the file's own redis-server: a client id above the highest now is a new connection
    const ids = async (): Promise<number[]> =>
      ctx.kind === 'redis' ? [...String(await ctx.redis.client('LIST')).matchAll(/^id=(\d+)/gm)].map((m) => Number(m[1])) : [];
    const highest = Math.max(0, ...(await ids()));
    await expect(et.wait(1)).rejects.toBeInstanceOf(ClosedError);
    await expect(rebuilt.wait(0, { until: 'started' })).rejects.toBeInstanceOf(ClosedError);
    // a connection would be under way by now
    await sleep(100);
    expect((await ids()).filter((id) => id > highest)).toEqual([]);
  });

  it('checks its arguments', async () => {
    const et = t.app().enqueuedTask(randomUUID());
    await expect(et.wait(-1)).rejects.toBeInstanceOf(RangeError);
    await expect(et.wait(Number.NaN)).rejects.toBeInstanceOf(RangeError);
    await expect(et.wait(1, { until: 'finished' as 'done' })).rejects.toBeInstanceOf(TypeError);
  });
});
