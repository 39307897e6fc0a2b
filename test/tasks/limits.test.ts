/**
 * Task queues under rate limits, in-flight caps and pauses (docs/rate-limits.md): the
 * claim enforces the queue's limits, and the worker waits for the next token or slot
 * without polling.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { VisqRangeError } from '../../src/index.js';
import { useStore } from '../harness/context.js';
import { until, useTaskApps } from './helpers.js';

const ctx = useStore();
const t = useTaskApps(ctx);

const START_MS = 1_800_000_000_000;

describe('task queue limits', () => {
  it('refuses tasks of one queue that set different limits', () => {
    const app = t.app();
    app.task('a', () => 1, { rateLimit: { perSecond: 5 } });
    app.task('b', () => 1);
    expect(() => app.task('c', () => 1, { rateLimit: { perSecond: 6 } })).toThrow(VisqRangeError);
    expect(() => app.task('d', () => 1, { maxInflight: 0 })).toThrow(/`options\.maxInflight`/);
    app.task('e', () => 1, { rateLimit: { perSecond: 5 } });
    app.task('f', () => 1, { queue: 'other', maxInflight: 3 });
    expect([...app.taskNames].sort()).toEqual(['a', 'b', 'e', 'f']);
  });

  it('runs no more tasks than the rate limit allows, and sleeps to the next token without polling', async () => {
    ctx.freeze(START_MS);
    const { app, calls } = t.countingApp();
    let runs = 0;
    const call = app.task('call', () => {
      runs += 1;
    }, { rateLimit: { perSecond: 1, burst: 3 } });
    await call.executeMany(Array.from({ length: 10 }, () => []));
    t.worker(app, { concurrency: 10 });
    await until('the burst ran', () => runs === 3);
    const claims = (calls.get('claim') ?? 0) + (calls.get('waitThenClaim') ?? 0);
    await sleep(300);
    // on the frozen clock the next token never comes: the worker sleeps, it does not claim again and again
    expect(runs).toBe(3);
    expect((calls.get('claim') ?? 0) + (calls.get('waitThenClaim') ?? 0) - claims).toBeLessThanOrEqual(1);
    ctx.advance(2);
    await until('two more tokens were spent', () => runs === 5);
    await sleep(300);
    expect(runs).toBe(5);
  });

  it('runs at most maxInflight tasks at once across workers', async () => {
    const app = t.app();
    const other = t.appElsewhere();
    const gate = t.gate();
    let running = 0;
    let most = 0;
    let finished = 0;
    const work = async (): Promise<void> => {
      running += 1;
      most = Math.max(most, running);
      await gate.pass();
      running -= 1;
      finished += 1;
    };
    const job = app.task('job', work, { maxInflight: 2, visTimeout: 30 });
    other.task('job', work, { maxInflight: 2, visTimeout: 30 });
    await job.executeMany(Array.from({ length: 8 }, () => []));
    t.worker(app, { concurrency: 5 });
    t.worker(other, { concurrency: 5 });
    await until('two tasks run', () => running === 2);
    await sleep(200);
    expect(running).toBe(2);
    expect((await app.queue().stats()).inflight).toBe(2);
    gate.open();
    await until('every task ran', () => finished === 8);
    expect(most).toBe(2);
  });

  it('stops claiming while the queue is paused, and resumes when the pause is lifted', async () => {
    const app = t.app();
    let runs = 0;
    const job = app.task('job', () => {
      runs += 1;
    });
    await app.queue().limit(600);
    await job.execute([]);
    t.worker(app);
    await sleep(200);
    expect(runs).toBe(0);
    await app.queue().limit(0);
    await until('the task ran', () => runs === 1);
  });
});
