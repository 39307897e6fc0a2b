import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { taskContext, TaskTimeoutError } from '../../src/index.js';
import { useStore } from '../harness/context.js';
import { nextEvent, record, until, useTaskApps } from './helpers.js';

const ctx = useStore();
const t = useTaskApps(ctx);

/** Inside a task: never settles by itself; ends (rejecting) when the run is timed out or given up. */
function hangUntilStopped(): Promise<never> {
  const signal = taskContext()?.signal;
  return new Promise<never>((_, reject) => {
    signal?.addEventListener('abort', () => reject(signal.reason as Error), { once: true });
  });
}

describe('retries', () => {
  it("retries a task that runs past its timeout until it succeeds (rpqueue's attempts: 20, visTimeout: 5)", async () => {
    const app = t.app();
    // rpqueue's usually_eventually_succeed, scaled down and made deterministic: the
    // first four runs "sleep past the timeout", the fifth returns
    const eventually = app.task('usuallyEventuallySucceed', async () => {
      if ((taskContext()?.attempt ?? 0) < 5) await hangUntilStopped();
      return 'done!';
    }, { attempts: 20, visTimeout: 0.5, timeout: 0.05, saveResults: 60 });
    const worker = t.worker(app);
    const failed = record(worker, 'failed');
    const done = nextEvent(worker, 'done');
    const et = await eventually.execute([]);
    expect(await et.wait(10)).toBe(true);
    expect(await et.status()).toBe('done');
    expect(await et.result()).toBe('done!');
    expect(await et.record()).toMatchObject({ attempt: 5 });
    expect(await done).toMatchObject({ attempt: 5, attempts: 20, result: 'done!' });
    expect(failed.map((f) => [f.attempt, f.willRetry, f.error instanceof TaskTimeoutError])).toEqual([
      [1, true, true],
      [2, true, true],
      [3, true, true],
      [4, true, true],
    ]);
  });

  it('retries a task that throws, at once by default, one attempt per run', async () => {
    const app = t.app();
    const attempts: number[] = [];
    const flaky = app.task('flaky', (succeedOn: number) => {
      const attempt = taskContext()?.attempt ?? 0;
      attempts.push(attempt);
      if (attempt < succeedOn) throw new Error(`attempt ${attempt} fails`);
      return attempt;
    }, { attempts: 5, visTimeout: 5, saveResults: 60 });
    t.worker(app);
    const et = await flaky.execute([3]);
    expect(await et.wait(10)).toBe(true);
    expect(await et.result()).toBe(3);
    expect(attempts).toEqual([1, 2, 3]);
  });

  it('retries an at-most-once task (visTimeout 0) that throws, as a new delivery remembering the runs used', async () => {
    const app = t.app();
    const attempts: number[] = [];
    const flaky = app.task('flaky', () => {
      const attempt = taskContext()?.attempt ?? 0;
      attempts.push(attempt);
      if (attempt < 3) throw new Error('not yet');
      return 'ok';
    }, { attempts: 3, saveResults: 60 });
    t.worker(app);
    const et = await flaky.execute([]);
    expect(await et.wait(10)).toBe(true);
    expect(await et.status()).toBe('done');
    expect(attempts).toEqual([1, 2, 3]);
  });

  it('fails the task and drops it once the attempts are spent (without useDead)', async () => {
    const app = t.app();
    let runs = 0;
    const broken = app.task('broken', () => {
      runs += 1;
      throw new Error('always');
    }, { attempts: 3, visTimeout: 0.5 });
    const worker = t.worker(app);
    const failed = record(worker, 'failed');
    const dead = nextEvent(worker, 'dead');
    const et = await broken.execute([]);
    expect(await dead).toMatchObject({ taskId: et.id, attempt: 3, deadLettered: false });
    expect(await et.status()).toBe('failed');
    expect(runs).toBe(3);
    expect(failed.map((f) => f.willRetry)).toEqual([true, true, false]);
    expect(await app.queue().stats()).toMatchObject({ ready: 0, delayed: 0, inflight: 0, dead: 0, dropped: 1 });
  });

  it('moves a task whose attempts are spent to the dead-letter queue with useDead', async () => {
    const app = t.app();
    const broken = app.task('broken', (order: string) => {
      throw new Error(`cannot ship ${order}`);
    }, { attempts: 2, visTimeout: 0.5, useDead: true });
    const worker = t.worker(app);
    const dead = nextEvent(worker, 'dead');
    const et = await broken.execute(['order-7']);
    expect(await dead).toMatchObject({ taskId: et.id, deadLettered: true });
    expect(await et.status()).toBe('failed');
    expect(await app.queue().stats()).toMatchObject({ ready: 0, delayed: 0, inflight: 0, dead: 1 });
    // a task's item id is its task id
    expect([...(await app.queue().dead.peekData(10))]).toEqual([[et.id, { t: 'broken', a: ['order-7'] }]]);
  });

  it('dead-letters an at-most-once task whose attempts are spent, with useDead', async () => {
    const app = t.app();
    const broken = app.task('broken', () => {
      throw new Error('always');
    }, { attempts: 2, useDead: true });
    const dead = nextEvent(t.worker(app), 'dead');
    const et = await broken.execute([]);
    expect(await dead).toMatchObject({ taskId: et.id, attempt: 2, deadLettered: true });
    expect(await et.status()).toBe('failed');
    expect([...(await app.queue().dead.peekData(10)).keys()]).toEqual([et.id]);
  });

  it('runs a redriven dead task again', async () => {
    const app = t.app();
    let healthy = false;
    const fragile = app.task('fragile', () => {
      if (!healthy) throw new Error('the mail server is down');
      return 'sent';
    }, { attempts: 1, visTimeout: 0.5, useDead: true, saveResults: 60 });
    const dead = nextEvent(t.worker(app), 'dead');
    const et = await fragile.execute([]);
    await dead;
    expect(await app.queue().stats()).toMatchObject({ dead: 1 });

    // the operator fixes the cause and redrives the dead letters, as `visq dead --redrive` does
    healthy = true;
    expect(await app.queue().redrive()).toBe(1);
    const queue = app.queue();
    await until('the worker has settled the redriven task', async () => {
      const stats = await queue.stats();
      return stats.ready + stats.inflight + stats.dead === 0;
    });
    expect(await et.result()).toBe('sent');
    expect(await et.status()).toBe('done');
  });

  it('makes a failed run visible again only after retryDelay (store time)', async () => {
    const app = t.app();
    const attempts: number[] = [];
    const flaky = app.task('flaky', () => {
      const attempt = taskContext()?.attempt ?? 0;
      attempts.push(attempt);
      if (attempt === 1) throw new Error('try later');
    }, { attempts: 2, visTimeout: 5, retryDelay: 120 });
    const ping = app.task('ping', () => undefined);
    const worker = t.worker(app);
    // listening before the execute: the worker may run the task before the execute returns
    const failed = new Promise<void>((resolve) => worker.once('failed', () => resolve()));
    const et = await flaky.execute([]);
    await failed;
    expect(await et.status()).toBe('delayed');
    expect(await app.queue().stats()).toMatchObject({ ready: 0, delayed: 1, inflight: 0 });

    // a task enqueued now runs while the retry is still held back
    expect(await (await ping.execute([])).wait(10)).toBe(true);
    expect(attempts).toEqual([1]);

    ctx.advance(121);
    expect(await (await ping.execute([])).wait(10)).toBe(true);
    expect(await et.wait(10)).toBe(true);
    expect(attempts).toEqual([1, 2]);
    expect(await et.status()).toBe('done');
  });
});

describe('timeout', () => {
  it('fails a run past its timeout with TaskTimeoutError and aborts its signal', async () => {
    const app = t.app();
    const reasons: unknown[] = [];
    const slow = app.task('slow', async () => {
      const signal = taskContext()?.signal;
      signal?.addEventListener('abort', () => reasons.push(signal.reason));
      await hangUntilStopped();
    }, { timeout: 0.05 });
    const failed = nextEvent(t.worker(app), 'failed');
    const et = await slow.execute([]);
    const { error, willRetry } = await failed;
    expect(error).toBeInstanceOf(TaskTimeoutError);
    expect(error).toMatchObject({ code: 'ERR_VISQ_TIMEOUT' });
    expect(willRetry).toBe(false);
    expect(reasons).toEqual([error]);
    expect(await et.status()).toBe('failed');
    expect((await et.record())?.error).toMatch(/timeout/);
  });

  it("applies the worker's timeout to tasks without their own, and a task's own timeout before it", async () => {
    const app = t.app();
    const plain = app.task('plain', () => hangUntilStopped());
    const patient = app.task('patient', async () => {
      await sleep(150);
      return 'finished';
    }, { timeout: 30, saveResults: 60 });
    t.worker(app, { timeout: 0.05 });
    const [cut, waited] = [await plain.execute([]), await patient.execute([])];
    expect(await cut.wait(10)).toBe(true);
    expect(await waited.wait(10)).toBe(true);
    expect(await cut.status()).toBe('failed');
    expect(await waited.result()).toBe('finished');
  });
});

describe('leases of running tasks', () => {
  it('keeps a run longer than visTimeout from being handed to another worker', async () => {
    const app = t.app();
    let runs = 0;
    const long = app.task('long', async () => {
      runs += 1;
      await sleep(1500);
    }, { visTimeout: 0.6, attempts: 3 });
    const workers = [t.worker(app), t.worker(app)];
    const started = workers.map((w) => record(w, 'started'));
    const et = await long.execute([]);
    expect(await et.wait(10)).toBe(true);
    expect(await et.status()).toBe('done');
    expect(runs).toBe(1);
    expect(started.flat().map((s) => s.attempt)).toEqual([1]);
  });

  // Issue 22 (task layer, 8): the lease keeper's interval was fixed when the worker was
  // made (a third of the shortest visTimeout then: 1 s here), so the lease of a task
  // registered later with a shorter one (0.3 s) ran out between two refreshes and the
  // task ran twice.
  it('keeps the lease of a task registered after the worker started with a shorter visTimeout', async () => {
    const app = t.app();
    app.task('early', () => 'ok', { visTimeout: 3 });
    const worker = t.worker(app);
    const started = record(worker, 'started');
    let runs = 0;
    const late = app.task('late', async () => {
      runs += 1;
      await sleep(1500);
      return 'ok';
    }, { visTimeout: 0.3, attempts: 3 });
    const et = await late.execute([]);
    expect(await et.wait(10)).toBe(true);
    expect(await et.record()).toMatchObject({ state: 'done', attempt: 1 });
    expect(runs).toBe(1);
    expect(started.map((s) => s.attempt)).toEqual([1]);
  });
});
