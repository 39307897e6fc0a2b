import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DataQueue } from '../../src/index.js';
import { useStore } from '../harness/context.js';
import { until, useTaskApps } from '../tasks/helpers.js';
import { clusterOf, crossSlotErrors, masterAddresses, queueSlot, slotOwners } from './helpers.js';

/**
 * Every operation of the data queue and of the task layer, on queues served by each of
 * the three masters. Redis Cluster refuses a script whose keys are not all in one slot
 * (CROSSSLOT), and a key outside the node's slots with a MOVED that a script cannot
 * follow; either would fail these tests. The masters' error counts must show no
 * CROSSSLOT at the end either, from this file or any other using the cluster.
 */
const ctx = useStore();
const t = useTaskApps(ctx);
const opened: DataQueue<unknown>[] = [];

afterEach(async () => {
  await Promise.all(opened.splice(0).map((queue) => queue.close()));
});

/** One queue name per master, under the current test's prefix. */
async function oneQueuePerMaster(): Promise<string[]> {
  const client = clusterOf(ctx);
  const ownerOf = await slotOwners(client);
  const byMaster = new Map<string, string>();
  for (let i = 0; byMaster.size < 3; i += 1) {
    const name = `q-${i}`;
    const owner = ownerOf(await queueSlot(client, ctx.prefix, name));
    if (!byMaster.has(owner)) byMaster.set(owner, name);
  }
  expect([...byMaster.keys()].sort()).toEqual(await masterAddresses(client));
  return [...byMaster.values()];
}

function open<T>(name: string, store = ctx.store): DataQueue<T> {
  const queue = new DataQueue<T>(store, name, { prefix: ctx.prefix, visTimeout: 30, attempts: 2, useDead: true });
  opened.push(queue as DataQueue<unknown>);
  return queue;
}

async function everyDataQueueMethod(name: string): Promise<void> {
  const queue = open<{ n: number }>(name);
  const other = open<{ n: number }>(name, ctx.elsewhere());

  // put: plain, priority, delay, ttl, and more than one chunk of 1000
  const plain = await queue.putData([{ n: 1 }, { n: 2 }, { n: 3 }]);
  await queue.putData([{ n: 10 }], { priority: 5 });
  await queue.putData([{ n: 20 }], { delay: 60 });
  await queue.putData([{ n: 30 }], { ttl: 60 });
  await queue.putData(Array.from({ length: 1500 }, (_, i) => ({ n: 1000 + i })));
  expect(await queue.stats()).toMatchObject({ ready: 1505, delayed: 1, inflight: 0, dead: 0 });
  expect([...(await queue.peekData(2)).values()]).toEqual([{ n: 10 }, { n: 1 }]);
  expect(await queue.inspect(plain[0] as string)).toMatchObject({ state: 'ready', item: { n: 1 } });

  // get, refresh (all and part of a batch), done, release, fail
  const batch = await queue.getDeliveries(4);
  expect(batch.map((d) => d.item)).toEqual([{ n: 10 }, { n: 1 }, { n: 2 }, { n: 3 }]);
  const leases = batch.map((d) => d.lease);
  expect((await queue.refreshData(leases)).size).toBe(4);
  expect((await queue.refreshData(leases.slice(0, 1), { visTimeout: 60 })).size).toBe(1);
  expect(await queue.inspect(batch[0]?.id as string)).toMatchObject({ state: 'inflight' });
  expect(await queue.doneData(leases.slice(0, 2))).toBe(2);
  expect((await queue.releaseData(leases.slice(2, 3), { delay: 30 })).requeued.size).toBe(1);
  expect((await queue.failData(leases.slice(3))).size).toBe(1);
  expect(await queue.stats()).toMatchObject({ delayed: 2, inflight: 0, dead: 1 });

  // expiry: the delivery ends without done, uses the last attempt, and is dead-lettered
  const [expiring] = await queue.getDeliveries(1, { visTimeout: 1 });
  expect(expiring?.item).toEqual({ n: 30 });
  ctx.advance(2);
  const [again] = await queue.getDeliveries(1, { visTimeout: 1 });
  expect(again?.item).toEqual({ n: 30 });
  ctx.advance(2);
  expect(await queue.stats()).toMatchObject({ dead: 2 });

  // the dead-letter queue: read, peek, redrive
  expect((await queue.dead.peekData(10)).size).toBe(2);
  const deadBatch = await queue.dead.getData(1);
  expect(deadBatch.size).toBe(1);
  expect(await queue.redrive()).toBe(1);
  expect(await queue.dead.stats()).toMatchObject({ ready: 0 });

  // a blocked read on one connection, woken by a put on another
  await queue.clear();
  const waiter = queue.getData(1, { wait: 30 });
  await other.putData([{ n: 99 }]);
  expect([...(await waiter).values()]).toEqual([{ n: 99 }]);

  await queue.clear();
  expect(await queue.stats()).toMatchObject({ ready: 0, delayed: 0, inflight: 0, dead: 0 });
  const left = Object.keys(await ctx.snapshot()).filter((key) => key.startsWith(`{${ctx.prefix}:${name}}`));
  expect(left).toEqual([]);
}

describe('on a Redis Cluster, no operation crosses slots', () => {
  let before: Record<string, number> = {};

  beforeAll(async () => {
    before = await crossSlotErrors(clusterOf(ctx));
  });

  afterAll(async () => {
    // the cluster is shared by the run: any CROSSSLOT answered so far shows here
    const after = await crossSlotErrors(clusterOf(ctx));
    expect(Object.values(before).every((n) => n === 0)).toBe(true);
    expect(Object.values(after).every((n) => n === 0)).toBe(true);
  });

  it('runs every DataQueue method on a queue of each master', async () => {
    for (const name of await oneQueuePerMaster()) await everyDataQueueMethod(name);
  });

  it('runs tasks, results, statuses, cancels, retries and schedules on queues of each master, with one worker', async () => {
    const [first, second, third] = (await oneQueuePerMaster()) as [string, string, string];
    const app = t.app();
    const add = app.task('add', (a: number, b: number) => a + b, { queue: first, saveResults: 60 });
    let failures = 0;
    const flaky = app.task('flaky', () => {
      failures += 1;
      if (failures < 2) throw new Error('first run fails');
      return 'ok';
    }, { queue: second, attempts: 3, visTimeout: 5, saveResults: 60 });
    const doomed = app.task('doomed', () => {
      throw new Error('always fails');
    }, { queue: third, attempts: 2, visTimeout: 5, useDead: true });
    let ticks = 0;
    app.periodicTask('tick', () => {
      ticks += 1;
    }, { every: 3600, queue: third });
    const later = await add.execute([0, 0], { delay: 3600 });
    expect(await later.status()).toBe('delayed');
    expect(await later.cancel()).toBe(true);

    // one worker serves the three queues, each with its own blocking fetch
    const worker = t.worker(app, { queues: [first, second, third] });
    const sums = await add.executeMany([[1, 2], [3, 4]]);
    const retried = await flaky.execute([]);
    const failed = await doomed.execute([]);
    for (const et of [...sums, retried, failed]) expect(await et.wait(10)).toBe(true);
    expect(await Promise.all(sums.map((et) => et.result()))).toEqual([3, 7]);
    expect(await retried.result()).toBe('ok');
    expect(await retried.record()).toMatchObject({ state: 'done', attempt: 2 });
    expect(await failed.status()).toBe('failed');
    expect(await app.queue(third).dead.stats()).toMatchObject({ ready: 1 });
    expect(await later.status()).toBe('cancelled');

    // a waiter on another connection hears a task finish through pub/sub
    const elsewhere = t.appElsewhere();
    elsewhere.task('add', (a: number, b: number) => a + b, { queue: first, saveResults: 60 });
    const watched = await add.execute([5, 6]);
    expect(await elsewhere.enqueuedTask(watched.id, { queue: first }).wait(10)).toBe(true);
    expect(await watched.result()).toBe(11);

    // the periodic task fires once its due time has come (for a worker started after it)
    await worker.close();
    expect(ticks).toBe(0);
    ctx.advance(3600);
    t.worker(app, { queues: [third] });
    await until('the periodic task ran', () => ticks > 0);
    expect(ticks).toBe(1);
  });
});
