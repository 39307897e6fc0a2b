/**
 * Workers with `shard`: each serves only the queues of its machine, so a fleet started
 * with the same `of` runs every task once, on the machine its queue hashes to.
 */
import { describe, expect, it } from 'vitest';
import { shardOf, type Visq } from '../../src/index.js';
import { useStore } from '../harness/context.js';
import { record, until, useTaskApps } from './helpers.js';

const ctx = useStore();
const t = useTaskApps(ctx);

const QUEUES = ['default', 'emails', 'images', 'reports', 'billing', 'search'];

/** One task per queue, named after it. */
function register(app: Visq) {
  return QUEUES.map((queue) => app.task(`touch-${queue}`, (n: number) => n, { queue }));
}

describe('worker sharding', () => {
  it('serves only the queues of its machine, in their order', () => {
    const app = t.app();
    register(app);
    for (const machine of [1, 2, 3]) {
      const worker = t.worker(app, { shard: { machine, of: 3 } });
      expect(worker.queues).toEqual(QUEUES.filter((q) => shardOf(q, 3) === machine));
      void worker.close();
    }
  });

  it('applies to the queues given explicitly', () => {
    const app = t.app();
    register(app);
    const worker = t.worker(app, { queues: ['emails', 'images', 'search'], shard: { machine: 2, of: 2 } });
    expect(worker.queues).toEqual(['images', 'search']);
    void worker.close();
  });

  it('runs idle when no queue belongs to its machine, and closes as usual', async () => {
    const app = t.app();
    register(app);
    expect(shardOf('images', 2)).toBe(2);
    const worker = t.worker(app, { queues: ['images'], shard: { machine: 1, of: 2 } });
    expect(worker.queues).toEqual([]);
    await worker.close();
  });

  it('splits the queues between two workers: every task runs once, on its machine', async () => {
    const machines = [1, 2].map((machine) => {
      const app = machine === 1 ? t.app() : t.appElsewhere();
      register(app);
      const worker = t.worker(app, { shard: { machine, of: 2 } });
      return { machine, worker, started: record(worker, 'started') };
    });
    const tasks = register(t.app());
    const enqueued = await Promise.all(tasks.flatMap((task) => [1, 2, 3, 4, 5].map((n) => task.execute([n]))));

    await until('every task is done', async () => (await Promise.all(enqueued.map((et) => et.status()))).every((s) => s === 'done'));
    await Promise.all(machines.map((m) => m.worker.close()));

    const runs = machines.flatMap((m) => m.started.map((e) => ({ machine: m.machine, taskId: e.taskId, queue: e.queue })));
    expect(runs.map((r) => r.taskId).sort()).toEqual(enqueued.map((et) => et.id).sort());
    for (const run of runs) expect(run.machine).toBe(shardOf(run.queue, 2));
    expect(new Set(runs.map((r) => r.machine))).toEqual(new Set([1, 2]));
  });
});
