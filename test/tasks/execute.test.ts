import { describe, expect, it } from 'vitest';
import { taskContext, VisqError, type TaskContext } from '../../src/index.js';
import { useStore } from '../harness/context.js';
import { record, useTaskApps } from './helpers.js';

const ctx = useStore();
const t = useTaskApps(ctx);

describe('Task.execute', () => {
  it('runs the function on a worker with the arguments given', async () => {
    const app = t.app();
    const add = app.task('add', async (a: number, b: number) => a + b, { saveResults: 60 });
    t.worker(app);
    const et = await add.execute([2, 3]);
    expect(await et.wait(10)).toBe(true);
    expect(await et.status()).toBe('done');
    expect(await et.result()).toBe(5);
  });

  it('gives every enqueue its own id and status', async () => {
    const app = t.app();
    const echo = app.task('echo', (text: string) => text, { saveResults: 60 });
    const [first, second] = await Promise.all([echo.execute(['a']), echo.execute(['b'])]);
    expect(first?.id).not.toBe(second?.id);
    t.worker(app);
    expect(await first?.wait(10)).toBe(true);
    expect(await second?.wait(10)).toBe(true);
    expect([await first?.result(), await second?.result()]).toEqual(['a', 'b']);
  });

  it('runs a plain (non-async) function and a function returning nothing', async () => {
    const app = t.app();
    const seen: number[] = [];
    const square = app.task('square', (n: number) => n * n, { saveResults: 60 });
    const note = app.task('note', (n: number) => {
      seen.push(n);
    }, { saveResults: 60 });
    t.worker(app);
    const [squared, noted] = [await square.execute([7]), await note.execute([1])];
    expect(await squared.wait(10)).toBe(true);
    expect(await noted.wait(10)).toBe(true);
    expect(await squared.result()).toBe(49);
    expect(await noted.result()).toBeUndefined();
    expect(seen).toEqual([1]);
  });

  it('queues a task on its own queue, served only by workers of that queue', async () => {
    const app = t.app();
    const mail = app.task('mail', () => 'sent', { queue: 'emails' });
    const et = await mail.execute([]);
    expect(et.queue).toBe('emails');
    expect(await app.queue('emails').stats()).toMatchObject({ ready: 1 });
    t.worker(app, { queues: ['default'] });
    expect(await et.wait(0.2)).toBe(false);
    t.worker(app, { queues: ['emails'] });
    expect(await et.wait(10)).toBe(true);
  });

  it('runs higher priorities first', async () => {
    const app = t.app();
    const order: string[] = [];
    const job = app.task('job', (name: string) => {
      order.push(name);
    });
    const low = await job.execute(['low'], { priority: -5 });
    await job.execute(['normal']);
    const urgent = await job.execute(['urgent'], { priority: 100 });
    const last = (await job.executeMany([['normal-2']]))[0];
    t.worker(app, { concurrency: 1, prefetch: 1 });
    expect(await urgent.wait(10)).toBe(true);
    expect(await app.enqueuedTask(last?.id ?? '').wait(10)).toBe(true);
    expect(await low.wait(10)).toBe(true);
    expect(order).toEqual(['urgent', 'normal', 'normal-2', 'low']);
  });

  it('holds a delayed task until its delay has passed', async () => {
    const app = t.app();
    const ran: string[] = [];
    const job = app.task('job', (name: string) => {
      ran.push(name);
    });
    const worker = t.worker(app);
    const done = record(worker, 'done');
    const later = await job.execute(['later'], { delay: 60 });
    expect(await later.status()).toBe('delayed');
    expect(await app.queue().stats()).toMatchObject({ delayed: 1, ready: 0 });
    // a task enqueued after it runs first: the delayed one is not visible yet
    expect(await (await job.execute(['now'])).wait(10)).toBe(true);
    expect(ran).toEqual(['now']);

    ctx.advance(61);
    // a put wakes the blocked worker, which then sees the store's advanced clock
    expect(await (await job.execute(['wake'])).wait(10)).toBe(true);
    expect(await later.wait(10)).toBe(true);
    expect(ran.sort()).toEqual(['later', 'now', 'wake']);
    // the worker reports the run once its settle call returns, which can be after a
    // waiter saw the record change (PostgreSQL: the NOTIFY can beat the statement's reply)
    await expect.poll(() => done.map((d) => d.taskId)).toContain(later.id);
  });

  it('enqueues many runs at once with executeMany, checking every argument list first', async () => {
    const app = t.app();
    const double = app.task('double', (n: number) => 2 * n, { saveResults: 60 });
    const tasks = await double.executeMany(Array.from({ length: 1001 }, (_, i) => [i] as [number]));
    expect(tasks).toHaveLength(1001);
    expect(new Set(tasks.map((et) => et.id)).size).toBe(1001);
    expect(await app.queue().stats()).toMatchObject({ ready: 1001 });

    const bad = [[1], [2], 'not a list'] as unknown as [number][];
    await expect(double.executeMany(bad)).rejects.toBeInstanceOf(TypeError);
    const circular: unknown[] = [];
    circular.push(circular);
    const tooMany = [...Array.from({ length: 1200 }, (_, i) => [i]), [circular]] as unknown as [number][];
    await expect(double.executeMany(tooMany)).rejects.toBeInstanceOf(TypeError);
    expect(await app.queue().stats()).toMatchObject({ ready: 1001 });

    t.worker(app, { concurrency: 50, prefetch: 500 });
    const last = tasks[tasks.length - 1];
    expect(await last?.wait(20)).toBe(true);
    expect(await last?.result()).toBe(2 * 1000);
  });

  it('rejects arguments JSON cannot carry, before anything is enqueued', async () => {
    const app = t.app();
    const take = app.task('take', (value: unknown) => value);
    await expect(take.execute([undefined])).rejects.toBeInstanceOf(TypeError);
    await expect(take.execute([() => 1])).rejects.toBeInstanceOf(TypeError);
    await expect(take.execute([10n])).rejects.toBeInstanceOf(TypeError);
    await expect(take.execute('x' as unknown as [unknown])).rejects.toBeInstanceOf(TypeError);
    await expect(take.execute([1], { delay: -1 })).rejects.toBeInstanceOf(RangeError);
    await expect(take.execute([1], { priority: 1001 })).rejects.toBeInstanceOf(RangeError);
    expect(await app.queue().stats()).toMatchObject({ ready: 0, delayed: 0 });
  });
});

describe('registering tasks', () => {
  it('refuses a second task of the same name', () => {
    const app = t.app();
    app.task('once', () => 1);
    expect(() => app.task('once', () => 2)).toThrow(VisqError);
    expect(app.taskNames).toEqual(['once']);
  });

  it('checks the options, naming the one that is wrong', () => {
    const app = t.app();
    expect(() => app.task('a', () => 1, { attempts: 0 })).toThrow(/attempts/);
    expect(() => app.task('b', () => 1, { visTimeout: -1 })).toThrow(RangeError);
    expect(() => app.task('c', () => 1, { retryDelay: Number.NaN })).toThrow(/retryDelay/);
    expect(() => app.task('d', () => 1, { bogus: 1 } as unknown as { attempts: number })).toThrow(/bogus/);
    expect(() => app.periodicTask('e', () => 1, { every: 0 })).toThrow(/every/);
    expect(() => app.cronTask('f', () => 1, { cron: 'not a cron' })).toThrow(RangeError);
    expect(app.taskNames).toEqual([]);
  });

  it('blames an unknown time zone on `tz`, not on the cron expression', () => {
    const app = t.app();
    expect(() => app.cronTask('g', () => 1, { cron: '* * * * *', tz: 'Mars/Olympus' })).toThrow(/Expected `tz`/);
  });

  it('refuses to start a worker with nothing to serve', () => {
    expect(() => t.app().worker()).toThrow(VisqError);
  });

  it('refuses new tasks and workers once the app is closed', async () => {
    const app = t.app();
    app.task('a', () => 1);
    await app.close();
    expect(() => app.task('b', () => 1)).toThrow(VisqError);
    expect(() => app.worker()).toThrow(VisqError);
  });
});

describe('taskContext', () => {
  it('tells a running task its id, name, queue and attempt', async () => {
    const app = t.app();
    const seen: TaskContext[] = [];
    const job = app.task('job', async () => {
      await Promise.resolve();
      const context = taskContext();
      if (context) seen.push(context);
      if (seen.length < 2) throw new Error('once more');
    }, { queue: 'work', attempts: 3, visTimeout: 5 });
    t.worker(app);
    const et = await job.execute([]);
    expect(await et.wait(10)).toBe(true);
    expect(seen.map((c) => [c.taskId, c.task, c.queue, c.attempt, c.attempts])).toEqual([
      [et.id, 'job', 'work', 1, 3],
      [et.id, 'job', 'work', 2, 3],
    ]);
    expect(seen.every((c) => !c.signal.aborted)).toBe(true);
  });

  it('is undefined outside a task run', () => {
    expect(taskContext()).toBeUndefined();
  });
});
