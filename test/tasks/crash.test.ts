import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import type { EnqueuedTask, Task, Visq } from '../../src/index.js';
import { useStore } from '../harness/context.js';
import { startCuttingProxy } from '../harness/tcp-proxy.js';
import { nextEvent, until, useTaskApps } from './helpers.js';

const ctx = useStore();
const t = useTaskApps(ctx);

/**
 * The tasks of fixtures/crash-worker.ts, as a surviving worker in this process knows
 * them: same names and options, but every run here finishes at once and is counted.
 */
function survivor(app: Visq): { runs: Map<string, number>; execute(task: string): Promise<EnqueuedTask<string>> } {
  const runs = new Map<string, number>();
  const counted = (name: string) => (): string => {
    runs.set(name, (runs.get(name) ?? 0) + 1);
    return `finished here: ${name}`;
  };
  const tasks = new Map<string, Task<[], string>>([
    ['hang', app.task('hang', counted('hang'), { visTimeout: 1, attempts: 2, saveResults: 60 })],
    ['hang-last', app.task('hang-last', counted('hang-last'), { visTimeout: 1, attempts: 1, useDead: true })],
    ['hang-once', app.task('hang-once', counted('hang-once'))],
    ['wait-turn', app.task('wait-turn', counted('wait-turn'), { visTimeout: 1, attempts: 1 })],
    ['quick-once', app.task('quick-once', counted('quick-once'))],
    ['after', app.task('after', counted('after'))],
  ]);
  return {
    runs,
    async execute(task) {
      const registered = tasks.get(task);
      if (!registered) throw new Error(`${task} is not a task of the crash worker`);
      return registered.execute([]);
    },
  };
}

/** Resolves once the worker process has begun running `task` (its first step counts the run). */
async function runningInCrashedProcess(task: string): Promise<void> {
  await until(`${task} runs in the worker process`, async () => (await runsInCrashedProcess(task)) > 0, 20);
}

async function runsInCrashedProcess(task: string): Promise<number> {
  return Number((await ctx.redis.get(`${ctx.prefix}:runs:${task}`)) ?? 0);
}

// the worker fixtures count their runs in Redis: Redis only (on PostgreSQL the chaos run,
// test/chaos, kills task workers mid-run and checks attempts and at-most-once runs)
describe.runIf(ctx.kind === 'redis')('a worker that dies mid-run', () => {
  it('leaves a task with visTimeout to run again on another worker once its lease expires', async () => {
    const app = t.app();
    const { runs, execute } = survivor(app);
    const et = await execute('hang');

    const doomed = await t.spawnWorker('crash-worker');
    // waiting on the task from here while another process starts it
    expect(await et.wait(20, { until: 'started' })).toBe(true);
    expect(await et.record()).toMatchObject({ state: 'started', attempt: 1 });
    await runningInCrashedProcess('hang');
    await doomed.kill();

    t.worker(app);
    expect(await et.wait(20)).toBe(true);
    expect(await et.status()).toBe('done');
    expect(await et.result()).toBe('finished here: hang');
    expect(await et.record()).toMatchObject({ attempt: 2 });
    expect([await runsInCrashedProcess('hang'), runs.get('hang')]).toEqual([1, 1]);
  });

  it('fails a task whose last attempt was running in the worker that died, without running it again', async () => {
    const app = t.app();
    const { runs, execute } = survivor(app);
    const et = await execute('hang-last');
    const doomed = await t.spawnWorker('crash-worker');
    await runningInCrashedProcess('hang-last');
    await doomed.kill();

    const worker = t.worker(app);
    const dead = nextEvent(worker, 'dead');
    expect(await et.wait(20)).toBe(true);
    expect(await et.status()).toBe('failed');
    expect(await dead).toMatchObject({ taskId: et.id, attempt: 1, deadLettered: true });
    expect((await et.record())?.error).toMatch(/stopped/);
    expect(await app.queue().stats()).toMatchObject({ ready: 0, inflight: 0, dead: 1 });
    expect([await runsInCrashedProcess('hang-last'), runs.get('hang-last') ?? 0]).toEqual([1, 0]);
  });

  it('fails an at-most-once task (visTimeout 0) whose worker died, without running it again', async () => {
    const app = t.app();
    const { runs, execute } = survivor(app);
    const et = await execute('hang-once');
    const doomed = await t.spawnWorker('crash-worker');
    await runningInCrashedProcess('hang-once');
    // held under the worker's lease while it runs, not removed before: nothing is lost
    // if the worker dies before the run begins, and the task can still be failed for good
    expect(await app.queue().stats()).toMatchObject({ ready: 0, inflight: 1 });
    await doomed.kill();

    t.worker(app);
    // once the dead worker's lease ends, the next delivery finds the run started by
    // another delivery: an at-most-once task is failed, never run again
    expect(await et.wait(20)).toBe(true);
    expect(await et.record()).toMatchObject({ state: 'failed', attempt: 1, error: expect.stringMatching(/stopped/) });
    expect(await app.queue().stats()).toMatchObject({ ready: 0, delayed: 0, inflight: 0, dead: 0 });
    expect([await runsInCrashedProcess('hang-once'), runs.get('hang-once') ?? 0]).toEqual([1, 0]);
  });

  it.each([
    { kind: 'with visTimeout', blocking: 'hang', waiting: 'wait-turn' },
    { kind: 'at most once', blocking: 'hang-once', waiting: 'quick-once' },
  ])('runs a task ($kind) that the dead worker had fetched but not started yet', async ({ blocking, waiting }) => {
    const app = t.app();
    const { runs, execute } = survivor(app);
    // held by the worker that dies
    const held = await execute(blocking);
    const fetched = await execute(waiting);
    // one run at a time: the second task sits fetched behind the first when the process dies
    const doomed = await t.spawnWorker('crash-worker', { CONCURRENCY: '1', PREFETCH: '2' });
    await runningInCrashedProcess(blocking);
    expect(await app.queue().stats()).toMatchObject({ ready: 0, inflight: 2 });
    expect(await fetched.status()).toBe('queued');
    await doomed.kill();

    t.worker(app);
    expect(await runsInCrashedProcess(waiting)).toBe(0);
    // it never ran, so its one attempt is still to be had
    expect(await held.wait(5)).toBe(true);
    expect({
      finished: await fetched.wait(5),
      status: await fetched.status(),
      ranHere: runs.get(waiting) ?? 0,
      queue: await app.queue().stats(),
    }).toMatchObject({ finished: true, status: 'done', ranHere: 1, queue: { ready: 0, inflight: 0 } });
  });

  // Issue 22 (task layer, 2): a task failed for good used to be two writes, the `failed`
  // record and then its dead letter. A worker that died between them (here: right after
  // Redis got the failure) left a failed record whose item the next delivery finished
  // instead of dead-lettering it: the dead letter was lost (dead 0 here). Now the record
  // and the dead letter are one settle: whenever the worker dies, both or neither.
  it.each(['before', 'after'] as const)(
    'keeps the record and the dead letter of a task failed for good together when its worker dies right %s Redis got the failure',
    async (at) => {
      const app = t.app();
      let survivorRuns = 0;
      const countRun = (): void => {
        survivorRuns += 1;
      };
      const doomed = app.task('doomed', countRun, { visTimeout: 1, attempts: 1, useDead: true });
      const doomedOnce = app.task('doomed-once', countRun, { attempts: 1, useDead: true });
      const tasks = [await doomed.execute([]), await doomedOnce.execute([])];
      const failure = `failure ${randomUUID()}`;
      const proxy = await startCuttingProxy(ctx.server.port, failure, at);
      try {
        const dying = await t.spawnWorker('fail-worker', { VISQ_URL: proxy.url, FAILURE: failure });
        await proxy.cut;
        // what Redis was sent, it runs: give it the moment it takes
        await sleep(100);
        await dying.kill();
      } finally {
        await proxy.close();
      }

      // a worker here fails whatever the dead one left started (its runs are spent)
      t.worker(app);
      for (const et of tasks) {
        expect(await et.wait(10)).toBe(true);
        expect(await et.record()).toMatchObject({
          state: 'failed',
          attempt: 1,
          error: at === 'after' ? failure : expect.stringMatching(/stopped/),
        });
      }
      const queue = app.queue();
      const stats = await queue.stats();
      expect(stats).toMatchObject({ ready: 0, delayed: 0, inflight: 0, dead: 2 });
      expect(stats.deadLettered).toBe(2);
      // a task's dead letter keeps its id, the task id
      expect([...(await queue.dead.getData(10)).keys()].sort()).toEqual(tasks.map((et) => et.id).sort());
      expect(survivorRuns).toBe(0);
    },
  );
});
