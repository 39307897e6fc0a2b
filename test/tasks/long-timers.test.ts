/**
 * Times longer than Node's longest timer (2^31 - 1 ms, about 24.8 days), which fires at
 * once when given more: lifetimes, timeouts, waits and schedules of a month wait their
 * time, in chained timers (src/sleep.ts `after`), instead of firing at once or spinning.
 *
 * Issue 22 ("Task layer and worker", 5): each of these timers used to be armed with the
 * whole delay, so a monthly cron or `every: 30 days` busy-looped (~940 schedule calls in
 * 2 s), `lifetime: { seconds: 30 days }` closed the worker at once, `timeout: 30 days`
 * failed every run as timed out, and `wait(30 days)` read the record ~700 times a second.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { useStore } from '../harness/context.js';
import { until, useTaskApps, type CallCounts } from './helpers.js';

const ctx = useStore();
const t = useTaskApps(ctx);

const DAY = 86_400;
/** 30 days in seconds: 2.6e9 ms, past the 2^31 - 1 ms (2.1e9) of one Node timer (src/sleep.ts MAX_TIMER_MS). */
const MONTH = 30 * DAY;

/** Calls of `method` counted so far. */
function calls(counts: CallCounts, method: string): number {
  return counts.get(method) ?? 0;
}

/** Whether a worker, whose `closed` this is, is still open after a short while. */
async function stillOpen(closed: Promise<void>): Promise<boolean> {
  return Promise.race([closed.then(() => false), sleep(200).then(() => true)]);
}

describe('timers longer than 2^31 - 1 ms', () => {
  it('a worker with a lifetime of 30 days stays open and runs tasks', async () => {
    const app = t.app();
    const job = app.task('job', () => 'ran');
    const worker = t.worker(app, { lifetime: { seconds: MONTH } });
    const alsoWorker = t.worker(app, { lifetime: MONTH });
    const et = await job.execute([]);
    expect(await et.wait(10)).toBe(true);
    expect(await et.status()).toBe('done');
    expect(await stillOpen(worker.closed)).toBe(true);
    expect(await stillOpen(alsoWorker.closed)).toBe(true);
  });

  it('a run under a timeout of 30 days (the task\'s or the worker\'s) is not timed out', async () => {
    const app = t.app();
    const own = app.task('own', async () => {
      await sleep(30);
      return 'finished';
    }, { timeout: MONTH, attempts: 2 });
    const inherited = app.task('inherited', async () => {
      await sleep(30);
      return 'finished';
    }, { attempts: 2 });
    t.worker(app, { timeout: MONTH });
    const tasks = [await own.execute([]), await inherited.execute([])];
    for (const et of tasks) {
      expect(await et.wait(10)).toBe(true);
      expect(await et.record()).toMatchObject({ state: 'done', attempt: 1 });
      expect((await et.record())?.error).toBeUndefined();
    }
  });

  it('wait(30 days) waits on events: it reads the record twice, not in a loop', async () => {
    const { app, calls: counts } = t.countingApp();
    const job = app.task('job', () => 'ran');
    const et = await job.execute([]);
    const abort = new AbortController();
    let settled = false;
    const waited = et.wait(MONTH, { signal: abort.signal }).finally(() => {
      settled = true;
    });
    // the first read, and the one after listening began; then no more while it waits
    // (the event connection reports its first connect as a reconnection when a channel was
    // added before it, which adds one read: a loop of timers that fire at once would make
    // hundreds in these 300 ms)
    await until('the wait reads its task', () => calls(counts, 'read') > 0);
    await sleep(300);
    expect(settled).toBe(false);
    expect(calls(counts, 'read')).toBeLessThanOrEqual(3);
    abort.abort();
    expect(await waited).toBe(false);
  });

  it('a periodic task of every 30 days claims its schedule a few times, then sleeps until it is due', async () => {
    // a second after a multiple of 30 days since the epoch: the next due time is 30 days away
    const month = MONTH * 1000;
    ctx.freeze((Math.floor(Date.now() / month) + 1) * month + 1000);
    const { app, calls: counts } = t.countingApp();
    let runs = 0;
    app.periodicTask('monthly', () => {
      runs += 1;
    }, { every: MONTH });
    const worker = t.worker(app);
    await sleep(300);
    // read, init (and a fire that finds it not due): a handful, not hundreds
    expect(calls(counts, 'schedule')).toBeGreaterThan(0);
    expect(calls(counts, 'schedule')).toBeLessThanOrEqual(4);
    expect(runs).toBe(0);
    expect(await stillOpen(worker.closed)).toBe(true);
  });

  it('a monthly cron task claims its schedule a few times, then sleeps until it is due', async () => {
    // the 2nd of January: the next 1st of a month is 30 days away
    ctx.freeze(Date.UTC(2031, 0, 2));
    const { app, calls: counts } = t.countingApp();
    let runs = 0;
    app.cronTask('monthly', () => {
      runs += 1;
    }, { cron: '0 0 1 * *' });
    t.worker(app);
    await sleep(300);
    expect(calls(counts, 'schedule')).toBeGreaterThan(0);
    expect(calls(counts, 'schedule')).toBeLessThanOrEqual(4);
    expect(runs).toBe(0);
  });
});
