import { afterEach, describe, expect, it } from 'vitest';
import { queueBase } from '../../src/data/keys.js';
import { resolveStore } from '../../src/data/store.js';
import { FAILURE_ERROR_BYTES, FAILURES_KEPT } from '../../src/tasks/records.js';
import { taskStoreOf, type TaskSpec, type TaskStore } from '../../src/tasks/task-store.js';
import { useStore } from '../harness/context.js';
import { useTaskApps } from './helpers.js';

const ctx = useStore();
const t = useTaskApps(ctx);

describe('app.recentFailures', () => {
  it('keeps each failed run, newest first: its task, error, item, run, and whether it will be retried', async () => {
    const app = t.app();
    let runs = 0;
    const flaky = app.task('flaky', () => {
      runs += 1;
      throw new Error(`broken ${runs}`);
    }, { attempts: 2, visTimeout: 5 });
    const fine = app.task('fine', () => 'ok');
    const et = await flaky.execute([]);
    await fine.execute([]);
    const worker = t.worker(app);
    expect(await et.wait(10)).toBe(true);
    await worker.close();

    const failures = await app.recentFailures();
    expect(failures).toEqual([
      { taskId: et.id, task: 'flaky', item: et.id, error: 'broken 2', attempt: 2, final: true, at: expect.any(Number) },
      { taskId: et.id, task: 'flaky', item: et.id, error: 'broken 1', attempt: 1, final: false, at: expect.any(Number) },
    ]);
    expect(failures[0]?.at).toBeGreaterThanOrEqual(failures[1]?.at ?? Infinity);
    expect(await app.recentFailures('default', 1)).toEqual(failures.slice(0, 1));
  });

  it('names the item of the run that failed, the task itself: a retry of an at-most-once task keeps it', async () => {
    const app = t.app();
    const never = app.task('never', () => {
      throw new Error('no');
    }, { attempts: 2 });
    const et = await never.execute([]);
    const worker = t.worker(app);
    expect(await et.wait(10)).toBe(true);
    await worker.close();
    expect((await app.recentFailures()).map((f) => [f.item, f.attempt, f.final])).toEqual([
      [et.id, 2, true],
      [et.id, 1, false],
    ]);
  });

  it('is empty where nothing failed, and checks its arguments', async () => {
    const app = t.app();
    expect(await app.recentFailures('nothing-here')).toEqual([]);
    await expect(app.recentFailures('default', 0)).rejects.toThrow('Expected `count` to be an integer from 1 to 50, got 0 (number)');
    await expect(app.recentFailures('default', 51)).rejects.toThrow(RangeError);
    await expect(app.recentFailures('')).rejects.toThrow(RangeError);
  });
});

describe('TaskStore.recentFailures', () => {
  const opened: TaskStore[] = [];
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((tasks) => tasks.close()));
  });
  const records = (): TaskStore => {
    const store = taskStoreOf('store', resolveStore('store', ctx.store).store);
    opened.push(store);
    return store;
  };
  const specs: TaskSpec[] = [
    { name: 'job', attempts: 1, visTimeoutMs: 60_000, useDead: false, finishedKeepMs: 60_000, resultMs: 0, retryDelayMs: 0 },
  ];

  /** Enqueues `taskId`, starts it and fails its first run for good with `error`. */
  async function failOnce(store: TaskStore, base: string, taskId: string, error: string): Promise<void> {
    await store.enqueue(base, { task: 'job', tasks: [{ taskId, payload: '{"t":"job","a":[]}' }], delayMs: 0, priority: 0 });
    const { tasks } = await store.claim(base, { count: 1, start: 1, leaseMs: 60_000, token: `claim-${taskId}`, specs });
    const [claimed] = tasks;
    if (claimed?.kind !== 'started') throw new Error(`${taskId} was not started: ${JSON.stringify(claimed)}`);
    await store.settle(base, [{ kind: 'fail', lease: claimed.lease, taskId, task: 'job', attempt: claimed.attempt, error, runMs: 3 }], specs);
  }

  it(`keeps the latest ${FAILURES_KEPT} of a queue`, async () => {
    const store = records();
    const base = queueBase(ctx.prefix, 'busy');
    for (let i = 0; i < FAILURES_KEPT + 5; i += 1) await failOnce(store, base, `t${i}`, `error ${i}`);
    const kept = await store.recentFailures(base, 1000);
    expect(kept).toHaveLength(FAILURES_KEPT);
    expect(kept[0]).toMatchObject({ taskId: `t${FAILURES_KEPT + 4}`, item: `t${FAILURES_KEPT + 4}`, final: true, attempt: 1 });
    expect(kept.at(-1)?.taskId).toBe('t5');
    expect(await store.recentFailures(queueBase(ctx.prefix, 'other'), 10)).toEqual([]);
  });

  it(`cuts an error to ${FAILURE_ERROR_BYTES} bytes of UTF-8, the same on every store`, async () => {
    const store = records();
    const base = queueBase(ctx.prefix, 'long');
    // one ASCII byte then two-byte characters: the cut falls inside a character
    await failOnce(store, base, 'long', `x${'é'.repeat(600)}`);
    const [failure] = await store.recentFailures(base, 1);
    expect(failure?.error).toBe(`x${'é'.repeat(499)}\uFFFD`);
    // the status record keeps the whole message
    expect((await store.read(base, 'long'))?.error).toBe(`x${'é'.repeat(600)}`);
  });

  it('notes no failure that the state machine refuses', async () => {
    const store = records();
    const base = queueBase(ctx.prefix, 'stale');
    await failOnce(store, base, 'once', 'first');
    // a stale run's failure is refused by the state machine, and not noted
    const [refused] = await store.settle(base, [{ kind: 'fail', lease: 'once:1', taskId: 'once', task: 'job', attempt: 1, error: 'again', runMs: 1 }], specs);
    expect(refused?.applied).toBe(false);
    expect((await store.recentFailures(base, 10)).map((f) => f.error)).toEqual(['first']);
  });
});
