import { describe, expect, it } from 'vitest';
import { DataQueue, VisqError } from '../../src/index.js';
import { useStore } from '../harness/context.js';
import { nextEvent, record, until, useTaskApps } from './helpers.js';

const ctx = useStore();
const t = useTaskApps(ctx);

describe('worker events', () => {
  it('reports started, failed (willRetry), done and dead with the run they are about', async () => {
    const app = t.app();
    let runs = 0;
    const flaky = app.task('flaky', () => {
      runs += 1;
      if (runs === 1) throw new Error('first run fails');
      return 'second run works';
    }, { attempts: 2, visTimeout: 5 });
    const hopeless = app.task('hopeless', () => {
      throw new Error('never works');
    });
    const worker = t.worker(app, { concurrency: 1 });
    const events: string[] = [];
    worker.on('started', (e) => events.push(`started ${e.task} ${e.attempt}/${e.attempts}`));
    worker.on('failed', (e) => events.push(`failed ${e.task} ${e.attempt} ${e.error.message} retry=${e.willRetry}`));
    worker.on('done', (e) => events.push(`done ${e.task} ${e.attempt} ${String(e.result)} ${typeof e.ms}`));
    worker.on('dead', (e) => events.push(`dead ${e.task} ${e.attempt} deadLettered=${e.deadLettered}`));

    const recovered = nextEvent(worker, 'done');
    const flakyTask = await flaky.execute([]);
    const done = await recovered;
    expect(done.taskId).toBe(flakyTask.id);
    const gone = nextEvent(worker, 'dead');
    const hopelessTask = await hopeless.execute([]);
    expect((await gone).taskId).toBe(hopelessTask.id);
    expect(events).toEqual([
      'started flaky 1/2',
      'failed flaky 1 first run fails retry=true',
      'started flaky 2/2',
      'done flaky 2 second run works number',
      'started hopeless 1/1',
      'failed hopeless 1 never works retry=false',
      'dead hopeless 1 deadLettered=false',
    ]);
  });

  it('reports an item that is not a task as an error and moves it to dead letters', async () => {
    const app = t.app();
    app.task('job', () => 1);
    const worker = t.worker(app);
    const error = nextEvent(worker, 'error');
    // anyone can write to a task queue through the data layer
    const raw = new DataQueue(ctx.store, 'default', { prefix: ctx.prefix });
    try {
      await raw.putData([{ hello: 'not a task' }]);
    } finally {
      await raw.close();
    }
    expect(await error).toBeInstanceOf(VisqError);
    await until('the item is dead-lettered', async () => (await app.queue().stats()).dead === 1);
    expect([...(await app.queue().dead.peekData()).values()]).toEqual([{ hello: 'not a task' }]);
  });

  it('hands a task it does not know back, for a worker that knows it', async () => {
    const producer = t.app();
    const job = producer.task('known-elsewhere', () => 'ran');
    const stranger = t.appElsewhere();
    stranger.task('other', () => 1);
    const strangerWorker = t.worker(stranger);
    const error = nextEvent(strangerWorker, 'error');
    const et = await job.execute([]);
    expect((await error).message).toMatch(/known-elsewhere/);
    await strangerWorker.close();
    expect(await et.status()).toBe('queued');
    // held back a little, so the stranger does not spin on it
    expect(await producer.queue().stats()).toMatchObject({ ready: 0, delayed: 1, inflight: 0 });

    ctx.advance(10);
    t.worker(producer);
    expect(await et.wait(10)).toBe(true);
    expect(await et.status()).toBe('done');
  });
});

describe('concurrency and prefetch', () => {
  it('never runs more than `concurrency` tasks at once', async () => {
    const app = t.app();
    let running = 0;
    let most = 0;
    const job = app.task('job', async () => {
      running += 1;
      most = Math.max(most, running);
      await new Promise((resolve) => setTimeout(resolve, 10));
      running -= 1;
    });
    const tasks = await job.executeMany(Array.from({ length: 40 }, () => [] as []));
    t.worker(app, { concurrency: 4, prefetch: 10 });
    for (const et of tasks) expect(await et.wait(10)).toBe(true);
    expect(most).toBe(4);
  });

  it('holds at most `prefetch` tasks, running and fetched ahead', async () => {
    const app = t.app();
    const gate = t.gate();
    const job = app.task('job', () => gate.pass(), { visTimeout: 5 });
    await job.executeMany(Array.from({ length: 20 }, () => [] as []));
    const worker = t.worker(app, { concurrency: 2, prefetch: 5 });
    const started = record(worker, 'started');
    const queue = app.queue();
    await until('two run and three are fetched ahead', async () => started.length === 2 && (await queue.stats()).inflight === 5);
    expect(worker.running).toBe(2);
    expect(await queue.stats()).toMatchObject({ ready: 15, inflight: 5 });
  });

  it('serves several queues at once', async () => {
    const app = t.app();
    const a = app.task('a', () => 'a', { queue: 'alpha' });
    const b = app.task('b', () => 'b', { queue: 'beta' });
    const worker = t.worker(app);
    expect([...worker.queues]).toEqual(['alpha', 'beta']);
    const [ta, tb] = [await a.execute([]), await b.execute([])];
    expect(await ta.wait(10)).toBe(true);
    expect(await tb.wait(10)).toBe(true);
  });

  it('fetches from every queue it serves while the first one stays empty', async () => {
    const app = t.app();
    app.task('a', () => 'a', { queue: 'alpha' });
    const b = app.task('b', () => 'b', { queue: 'beta' });
    const worker = t.worker(app);
    expect([...worker.queues]).toEqual(['alpha', 'beta']);
    const tb = await b.execute([]);
    expect({ finished: await tb.wait(3), beta: await app.queue('beta').stats() }).toMatchObject({
      finished: true,
      beta: { ready: 0, inflight: 0 },
    });
  });
});

describe('lifetime', () => {
  it('stops after `tasks` finished runs, leaving the rest queued', async () => {
    const app = t.app();
    const job = app.task('job', () => undefined, { visTimeout: 5 });
    const tasks = await job.executeMany(Array.from({ length: 5 }, () => [] as []));
    const worker = t.worker(app, { concurrency: 1, lifetime: { tasks: 3 } });
    await worker.closed;
    expect(worker.finishedRuns).toBe(3);
    const statuses = await Promise.all(tasks.map((et) => et.status()));
    expect(statuses).toEqual(['done', 'done', 'done', 'queued', 'queued']);
    expect(await app.queue().stats()).toMatchObject({ ready: 2, inflight: 0 });
  });

  it('stops by itself after `seconds`', async () => {
    const app = t.app();
    app.task('job', () => undefined);
    const worker = t.worker(app, { lifetime: 0.2 });
    const closed = new Promise<void>((resolve) => worker.once('closed', resolve));
    await worker.closed;
    await closed;
    const other = t.worker(app, { lifetime: { seconds: 0.1 } });
    await other.closed;
  });
});

describe('worker options', () => {
  it('checks them, naming the one that is wrong', () => {
    const app = t.app();
    app.task('job', () => 1);
    expect(() => app.worker({ concurrency: 0 })).toThrow(/concurrency/);
    expect(() => app.worker({ queues: [] })).toThrow(/queues/);
    expect(() => app.worker({ lifetime: -1 })).toThrow(RangeError);
    expect(() => app.worker({ lifetime: { tasks: 1.5 } })).toThrow(/lifetime\.tasks/);
    expect(() => app.worker({ shutdownTimeout: Number.NaN })).toThrow(/shutdownTimeout/);
  });
});
