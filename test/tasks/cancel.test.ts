import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { taskContext } from '../../src/index.js';
import { useStore } from '../harness/context.js';
import { nextEvent, until, useTaskApps } from './helpers.js';

const ctx = useStore();
const t = useTaskApps(ctx);

describe('EnqueuedTask.cancel', () => {
  it('stops a queued task from ever running; a worker discards it', async () => {
    const app = t.app();
    const ran: string[] = [];
    const job = app.task('job', (name: string) => {
      ran.push(name);
    });
    const doomed = await job.execute(['doomed']);
    const kept = await job.execute(['kept']);
    expect(await doomed.cancel()).toBe(true);
    expect(await doomed.status()).toBe('cancelled');
    t.worker(app, { concurrency: 1 });
    expect(await kept.wait(10)).toBe(true);
    expect(ran).toEqual(['kept']);
    expect(await doomed.status()).toBe('cancelled');
    expect(await app.queue().stats()).toMatchObject({ ready: 0, delayed: 0, inflight: 0, dead: 0 });
  });

  it('stops a delayed task', async () => {
    const app = t.app();
    let runs = 0;
    const job = app.task('job', () => {
      runs += 1;
    }, { visTimeout: 5 });
    const et = await job.execute([], { delay: 30 });
    expect(await et.cancel()).toBe(true);
    ctx.advance(31);
    const worker = t.worker(app);
    const queue = app.queue();
    await until('the cancelled task is discarded', async () => (await queue.stats()).delayed + (await queue.stats()).ready === 0);
    await worker.close();
    expect(runs).toBe(0);
    expect(await et.status()).toBe('cancelled');
  });

  it('resolves false for a task that has started, which then runs to the end', async () => {
    const app = t.app();
    const gate = t.gate();
    const job = app.task('job', async () => {
      await gate.pass();
      return 'finished';
    }, { saveResults: 60 });
    t.worker(app);
    const et = await job.execute([]);
    expect(await et.wait(10, { until: 'started' })).toBe(true);
    expect(await et.cancel()).toBe(false);
    expect(await et.status()).toBe('started');
    gate.open();
    expect(await et.wait(10)).toBe(true);
    expect(await et.status()).toBe('done');
    expect(await et.result()).toBe('finished');
  });

  it('resolves false once the task is final: done, failed or already cancelled', async () => {
    const app = t.app();
    const ok = app.task('ok', () => 1);
    const bad = app.task('bad', () => {
      throw new Error('no');
    });
    t.worker(app);
    const [done, failed] = [await ok.execute([]), await bad.execute([])];
    expect(await done.wait(10)).toBe(true);
    expect(await failed.wait(10)).toBe(true);
    expect(await done.cancel()).toBe(false);
    expect(await failed.cancel()).toBe(false);
    expect([await done.status(), await failed.status()]).toEqual(['done', 'failed']);

    const later = await ok.execute([], { delay: 60 });
    expect(await later.cancel()).toBe(true);
    expect(await later.cancel()).toBe(false);
    expect(await later.status()).toBe('cancelled');
  });

  it('resolves false for an id nobody enqueued, and records nothing', async () => {
    const et = t.app().enqueuedTask(randomUUID());
    expect(await et.cancel()).toBe(false);
    expect(await et.status()).toBe('unknown');
  });

  it('stops a task waiting between retries', async () => {
    const app = t.app();
    const attempts: number[] = [];
    const flaky = app.task('flaky', () => {
      attempts.push(taskContext()?.attempt ?? 0);
      throw new Error('fails');
    }, { attempts: 5, visTimeout: 5, retryDelay: 60 });
    const ping = app.task('ping', () => undefined);
    const worker = t.worker(app);
    const failed = nextEvent(worker, 'failed');
    const et = await flaky.execute([]);
    expect(await failed).toMatchObject({ willRetry: true });
    expect(await et.status()).toBe('delayed');
    expect(await et.cancel()).toBe(true);

    ctx.advance(61);
    // a put wakes the worker; the retry is now visible and must be discarded, not run
    expect(await (await ping.execute([])).wait(10)).toBe(true);
    const queue = app.queue();
    await until('the cancelled retry is discarded', async () => {
      const stats = await queue.stats();
      return stats.ready + stats.delayed + stats.inflight === 0;
    });
    expect(attempts).toEqual([1]);
    expect(await et.status()).toBe('cancelled');
  });

  it('works from another app on another connection', async () => {
    const app = t.app();
    const job = app.task('job', () => 'ran');
    const et = await job.execute([]);
    expect(await t.appElsewhere().enqueuedTask(et.id).cancel()).toBe(true);
    expect(await et.status()).toBe('cancelled');
  });

  it('races a worker starting the task safely: a task runs if and only if its cancel failed', async () => {
    const app = t.app();
    const ran = new Set<string>();
    const job = app.task('job', async () => {
      const id = taskContext()?.taskId;
      if (id) ran.add(id);
      await new Promise((resolve) => setTimeout(resolve, 1));
    }, { visTimeout: 5 });
    const tasks = await job.executeMany(Array.from({ length: 200 }, () => [] as []));
    const worker = t.worker(app, { concurrency: 20, prefetch: 40 });
    await nextEvent(worker, 'started');
    const cancelled = await Promise.all(tasks.map((et) => et.cancel()));
    for (const et of tasks) expect(await et.wait(10)).toBe(true);
    const outcomes = await Promise.all(tasks.map((et) => et.status()));
    tasks.forEach((et, i) => {
      expect({ cancelled: cancelled[i], ran: ran.has(et.id), status: outcomes[i] }).toEqual(
        cancelled[i] ? { cancelled: true, ran: false, status: 'cancelled' } : { cancelled: false, ran: true, status: 'done' },
      );
    });
    // both outcomes happened, or the race was not exercised
    expect(cancelled.some(Boolean) && cancelled.some((c) => !c)).toBe(true);
  });
});
