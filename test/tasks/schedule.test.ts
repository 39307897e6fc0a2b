import { afterEach, describe, expect, it } from 'vitest';
import { queueBase } from '../../src/data/keys.js';
import { resolveStore } from '../../src/data/store.js';
import { taskStoreOf, type ScheduleClaim } from '../../src/tasks/task-store.js';
import { useStore } from '../harness/context.js';
import { nextEvent, until, useTaskApps, type WorkerProcess } from './helpers.js';

const ctx = useStore();
const t = useTaskApps(ctx);

/** The due times the runs of fixtures/schedule-worker.ts belonged to, in run order. */
async function runSlots(): Promise<number[]> {
  return (await ctx.redis.lrange(`${ctx.prefix}:slots`, 0, -1)).map(Number);
}

const opened: { close(): Promise<void> }[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((each) => each.close()));
});

/** What the store holds of `task`'s schedule, read through the task store seam, on every store. */
async function storedSchedule(task: string, queue = 'default'): Promise<ScheduleClaim> {
  const { store, owned } = resolveStore('store', ctx.store);
  const tasks = taskStoreOf('store', store);
  opened.push(tasks, ...(owned ? [store] : []));
  return tasks.schedule(queueBase(ctx.prefix, queue), task, 'read', 0, 0);
}

/** The next due time stored for `task` (-1: none). */
async function storedDue(task: string, queue = 'default'): Promise<number> {
  return (await storedSchedule(task, queue)).due;
}

/** The store's time. */
async function storeNow(): Promise<number> {
  return (await storedSchedule('', 'default')).now;
}

/**
 * Runs three worker processes on one schedule until `runs` due times have fired, stops
 * them, and checks that every due time between the first and the last run fired exactly
 * once: no run twice (three workers, one claim), none skipped while they ran.
 */
async function firesOncePerDueTime(env: Record<string, string>, periodMs: number, runs: number): Promise<void> {
  const workers: WorkerProcess[] = await Promise.all([1, 2, 3].map(() => t.spawnWorker('schedule-worker', env)));
  await until(`${runs} due times have fired`, async () => (await runSlots()).length >= runs, 30);
  await Promise.all(workers.map((w) => w.stop()));

  const slots = await runSlots();
  const first = slots[0] ?? 0;
  const expected = Array.from({ length: slots.length }, (_, i) => first + i * periodMs);
  expect(slots).toEqual(expected);
  // the claim of the next due time, if any, happened after the last run
  expect(await storedDue('tick')).toBeGreaterThan(slots[slots.length - 1] ?? 0);
}

describe('periodic tasks', () => {
  // worker processes connect to the file's one redis-server
  it.runIf(ctx.kind === 'redis')('fire once per due time with three worker processes', async () => {
    await firesOncePerDueTime({ SCHEDULE: 'periodic', PERIOD: '0.5' }, 500, 6);
  });

  it('fire at multiples of `every` since the epoch', async () => {
    const app = t.app();
    app.periodicTask('hourly', () => undefined, { every: 3600 });
    const before = await storeNow();
    const worker = t.worker(app);
    await until('the schedule is registered', async () => (await storedDue('hourly')) > 0);
    await worker.close();
    const due = await storedDue('hourly');
    expect(due % 3_600_000).toBe(0);
    expect(due).toBe((Math.floor(before / 3_600_000) + 1) * 3_600_000);
  });

  it('collapse the ticks missed while no worker ran into one run', async () => {
    const app = t.app();
    let runs = 0;
    app.periodicTask('minutely', () => {
      runs += 1;
    }, { every: 60 });
    const first = t.worker(app);
    await until('the schedule is registered', async () => (await storedDue('minutely')) > 0);
    await first.close();
    expect(runs).toBe(0);

    // ten minutes of downtime
    ctx.advance(600);
    const second = t.worker(app);
    await nextEvent(second, 'done');
    await second.close();
    expect(runs).toBe(1);
    // the next due time is the first tick after now (the store's time, ten minutes on),
    // not the first of the missed ones
    const now = await storeNow();
    const due = await storedDue('minutely');
    expect(due).toBeGreaterThan(now);
    expect(due).toBeLessThanOrEqual(now + 60_000);
  });

  it('take a shorter `every` into account at once when workers restart', async () => {
    const slow = t.app();
    slow.periodicTask('report', () => undefined, { every: 86_400 });
    const before = t.worker(slow);
    await until('the daily schedule is registered', async () => (await storedDue('report')) > 0);
    await before.close();
    const daily = await storedDue('report');

    const fast = t.app();
    fast.periodicTask('report', () => undefined, { every: 60 });
    const after = t.worker(fast);
    await until('the schedule moved', async () => (await storedDue('report')) !== daily);
    await after.close();
    const due = await storedDue('report');
    expect(due % 60_000).toBe(0);
    expect(due).toBeLessThanOrEqual((await storeNow()) + 60_000);
  });

  it('run as ordinary tasks, with their options', async () => {
    const app = t.app();
    let runs = 0;
    const flaky = app.periodicTask('flaky', () => {
      runs += 1;
      if (runs === 1) throw new Error('first run fails');
      return 'ok';
    }, { every: 60, attempts: 2, visTimeout: 5, queue: 'periodic' });
    expect(flaky.queue).toBe('periodic');
    const first = t.worker(app);
    await until('the schedule is registered', async () => (await storedDue('flaky', 'periodic')) > 0);
    await first.close();
    ctx.advance(60);
    const worker = t.worker(app);
    const done = await nextEvent(worker, 'done');
    expect(done).toMatchObject({ task: 'flaky', attempt: 2, result: 'ok' });
  });
});

describe('cron tasks', () => {
  it.runIf(ctx.kind === 'redis')('fire once per due time with three worker processes (6-field expression, every second)', async () => {
    await firesOncePerDueTime({ SCHEDULE: 'cron' }, 1000, 4);
  });

  it('fire at the next time the expression names, in its time zone', async () => {
    const app = t.app();
    app.cronTask('nightly', () => undefined, { cron: '0 5 * * *', tz: 'Asia/Tokyo' });
    const worker = t.worker(app);
    await until('the schedule is registered', async () => (await storedDue('nightly')) > 0);
    await worker.close();
    const due = new Date(await storedDue('nightly'));
    // 05:00 in Tokyo (UTC+9, no daylight saving) is 20:00 UTC the day before
    expect([due.getUTCHours(), due.getUTCMinutes(), due.getUTCSeconds()]).toEqual([20, 0, 0]);
    const now = await storeNow();
    expect(due.getTime()).toBeGreaterThan(now);
    expect(due.getTime()).toBeLessThanOrEqual(now + 24 * 3600 * 1000);
  });
});
