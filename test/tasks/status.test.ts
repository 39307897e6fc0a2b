import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { useStore } from '../harness/context.js';
import { record, useTaskApps } from './helpers.js';

const ctx = useStore();
const t = useTaskApps(ctx);

describe('EnqueuedTask.status', () => {
  it("goes 'queued' → 'started' → 'done'", async () => {
    const app = t.app();
    const gate = t.gate();
    const job = app.task('job', async () => {
      await gate.pass();
    });
    const et = await job.execute([]);
    expect(await et.status()).toBe('queued');
    t.worker(app);
    expect(await et.wait(10, { until: 'started' })).toBe(true);
    expect(await et.status()).toBe('started');
    expect(await et.record()).toMatchObject({ state: 'started', attempt: 1, task: 'job' });
    gate.open();
    expect(await et.wait(10)).toBe(true);
    expect(await et.status()).toBe('done');
    expect(await et.record()).toMatchObject({ state: 'done', attempt: 1, hasResult: false });
  });

  it("is 'delayed' while an execute delay holds the task back", async () => {
    const app = t.app();
    const job = app.task('job', () => 'ran');
    const et = await job.execute([], { delay: 30 });
    expect(await et.status()).toBe('delayed');
    ctx.advance(31);
    t.worker(app);
    expect(await et.wait(10)).toBe(true);
    expect(await et.status()).toBe('done');
  });

  it("is 'queued' again, with the error, after a failed run that will be retried", async () => {
    const app = t.app();
    const flaky = app.task('flaky', () => {
      throw new Error('first run fails');
    }, { attempts: 2, visTimeout: 5 });
    const et = await flaky.execute([]);
    // a worker that stops after one run leaves the retry waiting in the queue
    const worker = t.worker(app, { lifetime: { tasks: 1 } });
    await worker.closed;
    expect(await et.status()).toBe('queued');
    expect(await et.record()).toMatchObject({ state: 'queued', attempt: 1, error: 'first run fails' });
  });

  it("is 'delayed' between runs when the task has a retryDelay", async () => {
    const app = t.app();
    const flaky = app.task('flaky', () => {
      throw new Error('nope');
    }, { attempts: 2, visTimeout: 5, retryDelay: 60 });
    const et = await flaky.execute([]);
    const worker = t.worker(app);
    const failed = record(worker, 'failed');
    await new Promise<void>((resolve) => worker.once('failed', () => resolve()));
    expect(failed[0]?.willRetry).toBe(true);
    expect(await et.status()).toBe('delayed');
  });

  it("is 'failed' once the attempts are spent, keeping the last error", async () => {
    const app = t.app();
    let runs = 0;
    const broken = app.task('broken', () => {
      runs += 1;
      throw new Error(`failure ${runs}`);
    }, { attempts: 3, visTimeout: 5 });
    t.worker(app);
    const et = await broken.execute([]);
    expect(await et.wait(10)).toBe(true);
    expect(await et.status()).toBe('failed');
    expect(await et.record()).toMatchObject({ state: 'failed', attempt: 3, error: 'failure 3' });
  });

  it("is 'cancelled' after a cancel before the start", async () => {
    const app = t.app();
    const job = app.task('job', () => 'ran');
    const et = await job.execute([]);
    expect(await et.cancel()).toBe(true);
    expect(await et.status()).toBe('cancelled');
  });

  it("is 'unknown' for an id that was never enqueued, or enqueued on another queue", async () => {
    const app = t.app();
    const job = app.task('job', () => 'ran', { queue: 'elsewhere' });
    const et = await job.execute([]);
    expect(await app.enqueuedTask(randomUUID()).status()).toBe('unknown');
    expect(await app.enqueuedTask(et.id).status()).toBe('unknown');
    expect(await app.enqueuedTask(et.id, { queue: 'elsewhere' }).status()).toBe('queued');
    expect(await app.enqueuedTask(randomUUID()).record()).toBeUndefined();
  });

  it('reads the same from another app on another connection', async () => {
    const app = t.app();
    const job = app.task('job', () => 'ran');
    const et = await job.execute([], { delay: 60 });
    const other = t.appElsewhere();
    expect(await other.enqueuedTask(et.id).status()).toBe('delayed');
  });

  it("names the queue item, whose id is the task id, from the moment it is enqueued", async () => {
    const app = t.app();
    const gate = t.gate();
    const job = app.task('job', async () => {
      await gate.pass();
    }, { attempts: 2, visTimeout: 5 });
    const queue = app.queue('default');
    const et = await job.execute([]);
    expect(await et.record()).toMatchObject({ state: 'queued', item: et.id });
    expect([...(await queue.peekData(1)).keys()]).toEqual([et.id]);
    t.worker(app);
    expect(await et.wait(10, { until: 'started' })).toBe(true);
    expect(await et.record()).toMatchObject({ state: 'started', item: et.id });
    gate.open();
    expect(await et.wait(10)).toBe(true);
    expect(await et.record()).toMatchObject({ state: 'done', item: et.id });
  });

  it('reads done for every task of a batch a worker finishes as fast as they are enqueued', async () => {
    const app = t.app();
    const job = app.task('job', () => 'ran');
    t.worker(app);
    const tasks = await job.executeMany(Array.from({ length: 200 }, () => [] as []));
    for (const et of tasks) expect(await et.wait(10)).toBe(true);
    const states = await Promise.all(tasks.map((et) => et.status()));
    expect(new Set(states)).toEqual(new Set(['done']));
  });
});
