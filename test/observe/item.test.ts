/**
 * inspectItem, behind `visq inspect` and the dashboard's inspect: a task's item id is its
 * task id, so a task is found in every state by its id, and what is known is said when no
 * item carries it. Runs on Redis and, in `npm run test:memory`, on the MemoryStore.
 */
import { describe, expect, it } from 'vitest';
import { inspectItem, type ItemLookup } from '../../src/observe/item.js';
import type { Visq } from '../../src/index.js';
import { useStore } from '../harness/context.js';
import { useTaskApps } from '../tasks/helpers.js';

const ctx = useStore();
const t = useTaskApps(ctx);

function lookup(app: Visq, id: string): Promise<ItemLookup> {
  return inspectItem(app.queue('default'), app, id);
}

describe.skipIf(ctx.kind === 'cluster')('inspectItem', () => {
  it('finds a queued task by its task id, which is its item id', async () => {
    const app = t.app();
    const resize = app.task('resize', (_url: string) => undefined);
    const other = app.task('other', (_id: string) => undefined);
    const et = await resize.execute(['a.png']);
    // a task whose arguments hold the id is not the task with that id
    await other.execute([et.id]);

    expect(await lookup(app, et.id)).toMatchObject({
      found: true,
      report: {
        queue: 'default',
        id: et.id,
        state: 'ready',
        deliveries: 0,
        item: { t: 'resize', a: ['a.png'] },
        task: { name: 'resize', id: et.id, status: 'queued', attempt: 0 },
      },
    });
  });

  it('finds a delayed task by its task id', async () => {
    const app = t.app();
    const later = app.task('later', () => undefined);
    const et = await later.execute([], { delay: 60 });
    expect(await lookup(app, et.id)).toMatchObject({
      found: true,
      report: { id: et.id, state: 'delayed', task: { status: 'delayed' } },
    });
  });

  it('finds a running task', async () => {
    const app = t.app();
    const gate = t.gate();
    const slow = app.task('slow', () => gate.pass(), { attempts: 2, visTimeout: 30 });
    const et = await slow.execute([]);
    const worker = t.worker(app);
    expect(await et.wait(10, { until: 'started' })).toBe(true);
    expect(await lookup(app, et.id)).toMatchObject({
      found: true,
      report: { id: et.id, state: 'inflight', deliveries: 1, task: { status: 'started', attempt: 1 } },
    });
    gate.open();
    expect(await et.wait(10)).toBe(true);
    await worker.close();
  });

  it("finds a failed task's dead letter by its task id", async () => {
    const app = t.app();
    const fail = app.task('fail', () => {
      throw new Error('boom');
    }, { useDead: true });
    const et = await fail.execute([]);
    const worker = t.worker(app);
    expect(await et.wait(10)).toBe(true);
    await worker.close();
    expect(await lookup(app, et.id)).toMatchObject({
      found: true,
      report: { id: et.id, state: 'dead', item: { t: 'fail', a: [] }, task: { status: 'failed', error: 'boom' } },
    });
  });

  it('says what became of a task that no item carries any more', async () => {
    const app = t.app();
    const add = app.task('add', (a: number, b: number) => a + b);
    const et = await add.execute([1, 2]);
    const worker = t.worker(app);
    expect(await et.wait(10)).toBe(true);
    await worker.close();
    expect(await lookup(app, et.id)).toEqual({
      found: false,
      message: `The task "${et.id}" (add) is done after 1 run; no item of the queue "default" or its dead letters carries it any more`,
    });
  });

  it('says that neither an item nor a task has the id', async () => {
    const app = t.app();
    await app.task('add', (a: number, b: number) => a + b).execute([1, 2]);
    // the second is longer than any task id
    for (const id of ['no-such-id', 'x'.repeat(200)]) {
      expect(await lookup(app, id)).toEqual({
        found: false,
        message: `No item or task ${JSON.stringify(id)} in the queue "default" or its dead letters`,
      });
    }
  });
});
