import { describe, expect, it } from 'vitest';
import { useStore } from '../harness/context.js';
import { nextEvent, useTaskApps } from './helpers.js';

const ctx = useStore();
const t = useTaskApps(ctx);

describe('app.taskMetrics', () => {
  it('counts runs started, tasks done and failed, and runs retried, per task', async () => {
    const app = t.app();
    let calls = 0;
    const add = app.task('add', (a: number, b: number) => a + b);
    const flaky = app.task('flaky', () => {
      calls += 1;
      if (calls < 2) throw new Error('not yet');
    }, { attempts: 3 });
    const never = app.task('never', () => {
      throw new Error('no');
    }, { attempts: 2 });
    const tasks = [await add.execute([1, 2]), await add.execute([3, 4]), await flaky.execute([]), await never.execute([])];
    const worker = t.worker(app, { concurrency: 2 });
    for (const et of tasks) expect(await et.wait(10)).toBe(true);
    await worker.close();

    const metrics = await app.taskMetrics();
    expect(metrics.map((m) => m.task)).toEqual(['add', 'flaky', 'never']);
    expect(metrics).toMatchObject([
      { queue: 'default', task: 'add', started: 2, done: 2, failed: 0, retried: 0 },
      { queue: 'default', task: 'flaky', started: 2, done: 1, failed: 0, retried: 1 },
      { queue: 'default', task: 'never', started: 2, done: 0, failed: 1, retried: 1 },
    ]);
  });

  it('keeps a cumulative run-time histogram of the runs that ended', async () => {
    const app = t.app();
    const nap = app.task('nap', (ms: number) => new Promise((resolve) => setTimeout(resolve, ms)));
    const worker = t.worker(app, { concurrency: 3 });
    const done = nextEvent(worker, 'done', () => true);
    for (const et of [await nap.execute([0]), await nap.execute([0]), await nap.execute([60])]) {
      expect(await et.wait(10)).toBe(true);
    }
    await done;
    await worker.close();
    const [metrics] = await app.taskMetrics();
    expect(metrics?.runTime.count).toBe(3);
    const buckets = metrics?.runTime.buckets ?? [];
    expect(buckets.at(-1)).toEqual({ le: Number.POSITIVE_INFINITY, count: 3 });
    // cumulative: never decreasing; the 60 ms run is past the 50 ms bound
    expect(buckets.every((b, i) => i === 0 || b.count >= (buckets[i - 1]?.count ?? 0))).toBe(true);
    expect(buckets.find((b) => b.le === 0.05)?.count).toBeLessThanOrEqual(2);
    // a sanity bound on the measurement (a 60 ms sleep), not a speed goal
    expect(metrics?.runTime.sumSeconds).toBeGreaterThanOrEqual(0.05);
  });

  it('is empty for a queue where nothing ran, and checks its argument', async () => {
    const app = t.app();
    expect(await app.taskMetrics('nothing-here')).toEqual([]);
    await expect(app.taskMetrics('')).rejects.toThrow(RangeError);
  });
});
