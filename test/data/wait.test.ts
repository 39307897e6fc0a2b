import { setTimeout as sleep } from 'node:timers/promises';
import { beforeEach, describe, expect, it } from 'vitest';
import type { DataQueue, DataQueueOptions } from '../../src/index.js';
import { useStore } from '../harness/context.js';
import { useQueues } from '../harness/queues.js';
import { scriptCalls, untilBlocked } from '../harness/blocking.js';

const ctx = useStore();
const open = useQueues(ctx);

/** The same queue seen from a connection of its own, as another process would. */
function openElsewhere<T = unknown>(name = 'q', options: DataQueueOptions = {}): DataQueue<T> {
  return open<T>(name, options, ctx.elsewhere());
}

// Waits in these tests are far longer than a test may run: only the event under test can
// end them in time, so a missed wake-up fails the test instead of passing late.
const LONG_WAIT = 60;
const IN_TIME = 5_000;

beforeEach(async () => {
  await untilBlocked(ctx, 0);
});

describe('getData with wait', () => {
  it('returns at once when items are visible', async () => {
    const queue = open<string>();
    const [id] = await queue.putData(['ready']);
    expect(await queue.getData(1, { wait: LONG_WAIT })).toEqual(new Map([[id, 'ready']]));
  }, IN_TIME);

  it('blocks without polling until a put from another connection wakes it', async () => {
    const queue = open<string>();
    let settled = false;
    const waiter = queue.getData(1, { wait: LONG_WAIT }).finally(() => {
      settled = true;
    });
    await untilBlocked(ctx, 1);
    const calls = ctx.kind === 'redis' ? await scriptCalls(ctx) : 0;
    await sleep(100);
    expect(settled).toBe(false);
    if (ctx.kind === 'redis') expect(await scriptCalls(ctx)).toBe(calls);
    const [id] = await openElsewhere<string>().putData(['hello']);
    expect(await waiter).toEqual(new Map([[id, 'hello']]));
  }, IN_TIME);

  it('returns an empty Map when nothing became visible during the wait', async () => {
    const queue = open<string>();
    const items = await queue.getData(5, { wait: 0.05 });
    expect(items).toEqual(new Map());
  });

  it('returns what is visible when it wakes, without waiting to fill `count`', async () => {
    const queue = open<number>();
    const waiter = queue.getData(10, { wait: LONG_WAIT });
    await untilBlocked(ctx, 1);
    await openElsewhere<number>().putData([1, 2]);
    expect([...(await waiter).values()]).toEqual([1, 2]);
  }, IN_TIME);

  it('wakes when a delayed item comes due', async () => {
    const queue = open<string>();
    await queue.putData(['later'], { delay: 0.15 });
    expect([...(await queue.getData(1, { wait: LONG_WAIT })).values()]).toEqual(['later']);
  }, IN_TIME);

  it('wakes when a lease expires and its item is visible again', async () => {
    const queue = open<string>('q', { attempts: 2 });
    await queue.putData(['retry']);
    await queue.getData(1, { visTimeout: 0.15 });
    const again = await queue.getDeliveries(1, { wait: LONG_WAIT, visTimeout: 30 });
    expect(again.map((d) => [d.item, d.delivery])).toEqual([['retry', 2]]);
  }, IN_TIME);

  it('wakes a dead-letter reader when a lease of its queue expires into it', async () => {
    const queue = open<string>('q', { visTimeout: 0.15, useDead: true });
    await queue.putData(['poison']);
    await queue.getData(1);
    expect([...(await queue.dead.getData(1, { wait: LONG_WAIT })).values()]).toEqual(['poison']);
  }, IN_TIME);

  it('wakes a dead-letter reader at the earliest lease deadline of its queue, whoever holds the lease', async () => {
    const queue = open<string>('q', { visTimeout: 30, useDead: true });
    await queue.putData(['held', 'poison']);
    await queue.getData(1);
    await openElsewhere<string>('q', { useDead: true }).getData(1, { visTimeout: 0.15 });
    expect([...(await queue.dead.getData(1, { wait: LONG_WAIT })).values()]).toEqual(['poison']);
  }, IN_TIME);

  it('wakes when a refresh shortens a lease, and reads the item once the new deadline passed', async () => {
    const queue = open<string>('q', { visTimeout: 30, attempts: 2 });
    await queue.putData(['x']);
    const held = await queue.getData(1);
    const waiter = openElsewhere<string>('q', { visTimeout: 30, attempts: 2 }).getDeliveries(1, { wait: LONG_WAIT });
    await untilBlocked(ctx, 1);
    expect((await queue.refreshData(held, { visTimeout: 0.15 })).size).toBe(1);
    expect((await waiter).map((d) => [d.item, d.delivery])).toEqual([['x', 2]]);
  }, IN_TIME);

  it('wakes a dead-letter reader when a refresh shortens a lease of its queue', async () => {
    const queue = open<string>('q', { visTimeout: 30, useDead: true });
    await queue.putData(['x', 'y']);
    const held = await queue.getData(2);
    const waiter = queue.dead.getData(1, { wait: LONG_WAIT });
    await untilBlocked(ctx, 1);
    // one lease of the two moves to an entry of its own with the shorter deadline
    expect((await queue.refreshData([...held.keys()].slice(1), { visTimeout: 0.15 })).size).toBe(1);
    expect([...(await waiter).values()]).toEqual(['y']);
  }, IN_TIME);

  it('leases what it returns when the read has a visibility timeout', async () => {
    const queue = open<string>('q', { visTimeout: 30 });
    const waiter = queue.getData(1, { wait: LONG_WAIT });
    await untilBlocked(ctx, 1);
    await openElsewhere<string>().putData(['x']);
    const items = await waiter;
    expect(await queue.stats()).toMatchObject({ inflight: 1 });
    expect(await queue.doneData(items)).toBe(1);
  }, IN_TIME);

  it('is not served by puts to another queue', async () => {
    const queue = open<string>('a');
    const other = openElsewhere<string>('b');
    const waiter = queue.getData(1, { wait: 0.3 });
    await untilBlocked(ctx, 1);
    await other.putData(['for b']);
    expect(await waiter).toEqual(new Map());
    expect([...(await other.getData(1)).values()]).toEqual(['for b']);
  });

  describe('signal', () => {
    it('ends the wait early with what there is', async () => {
      const queue = open<string>();
      const controller = new AbortController();
      const waiter = queue.getData(1, { wait: LONG_WAIT, signal: controller.signal });
      await untilBlocked(ctx, 1);
      controller.abort();
      expect(await waiter).toEqual(new Map());
      await untilBlocked(ctx, 0);
    }, IN_TIME);

    it('does not wait at all when already aborted', async () => {
      const queue = open<string>();
      expect(await queue.getData(1, { wait: LONG_WAIT, signal: AbortSignal.abort() })).toEqual(new Map());
    }, IN_TIME);

    it('still returns the items visible at once', async () => {
      const queue = open<string>();
      await queue.putData(['x']);
      const items = await queue.getData(1, { wait: LONG_WAIT, signal: AbortSignal.abort() });
      expect([...items.values()]).toEqual(['x']);
    }, IN_TIME);

    for (const visTimeout of [30, 0]) {
      it(`loses nothing when an abort races a put (visTimeout ${visTimeout})`, async () => {
        const queue = open<string>('q', { visTimeout });
        // the queue has had a put: an abort wakes its read rather than dropping it
        await queue.putData(['before']);
        await queue.doneData(await queue.getData(1));
        const controller = new AbortController();
        const waiter = queue.getData(1, { wait: LONG_WAIT, signal: controller.signal });
        await untilBlocked(ctx, 1);
        // on Redis the read queued behind the blocked wait may run, and take the item,
        // before the abort's wake-up: it must then hand it back (or, read at most once,
        // return it) rather than drop it
        const put = queue.putData(['raced']);
        controller.abort();
        await put;
        const fromWaiter = [...(await waiter).values()];
        const later = await queue.getDeliveries(1);
        expect([...fromWaiter, ...later.map((d) => d.item)]).toEqual(['raced']);
        // a lease handed back unused costs no attempt, and is not counted as a delivery
        for (const d of later) expect(d.delivery).toBe(1);
        expect(await queue.stats()).toMatchObject({
          ready: 0,
          inflight: visTimeout > 0 ? later.length + fromWaiter.length : 0,
          deliveries: 2,
        });
      }, IN_TIME);
    }

    it('leaves the queue usable for later waits', async () => {
      const queue = open<string>();
      const controller = new AbortController();
      const first = queue.getData(1, { wait: LONG_WAIT, signal: controller.signal });
      await untilBlocked(ctx, 1);
      controller.abort();
      await first;
      const second = queue.getData(1, { wait: LONG_WAIT });
      await untilBlocked(ctx, 1);
      await openElsewhere<string>().putData(['x']);
      expect([...(await second).values()]).toEqual(['x']);
    }, IN_TIME);
  });

  it('leaves no lease behind when close() races a put', async () => {
    const queue = open<string>('q', { visTimeout: 30 });
    await queue.putData(['before']);
    await queue.doneData(await queue.getData(1));
    const waiter = queue.getData(1, { wait: LONG_WAIT });
    await untilBlocked(ctx, 1);
    // the read behind the wait can run before close() is seen: close() lets it hand
    // the item back before it drops the connection
    const put = queue.putData(['raced']);
    const closing = queue.close();
    await Promise.all([put, closing]);
    const fromWaiter = [...(await waiter).values()];
    const elsewhere = openElsewhere<string>('q', { visTimeout: 30 });
    const later = await elsewhere.getDeliveries(1);
    expect([...fromWaiter, ...later.map((d) => d.item)]).toEqual(['raced']);
    for (const d of later) expect(d.delivery).toBe(1);
    expect((await elsewhere.stats()).deliveries).toBe(2);
  }, IN_TIME);

  it('is ended by close(), which releases the waiting connection', async () => {
    const queue = open<string>();
    const waiter = queue.getData(1, { wait: LONG_WAIT });
    await untilBlocked(ctx, 1);
    await queue.close();
    expect(await waiter).toEqual(new Map());
    await untilBlocked(ctx, 0);
  }, IN_TIME);

  describe('when the connection of a blocked read is killed', () => {
    // not in memory: the MemoryStore has no connection to lose
    const onServer = it.skipIf(ctx.kind === 'memory');

    for (const reader of ['a queue', 'a dead-letter queue'] as const) {
      onServer(`returns when its wait is over, without waiting it all again (${reader})`, async () => {
        const queue = open<string>();
        const wait = 2;
        const started = performance.now();
        const waiter = (reader === 'a queue' ? queue : queue.dead).getData(1, { wait });
        await untilBlocked(ctx, 1);
        await sleep(wait * 750);
        expect(await ctx.killBlocked()).toBe(1);
        expect(await waiter).toEqual(new Map());
        // a wait sent again in full would end at 1.75 × wait at the earliest
        expect(performance.now() - started).toBeLessThan(wait * 1.5 * 1000);
      }, IN_TIME);
    }

    onServer('blocks again for the time left, and a put still wakes it', async () => {
      const queue = open<string>('q', { visTimeout: 30 });
      const waiter = queue.getData(1, { wait: LONG_WAIT });
      await untilBlocked(ctx, 1);
      expect(await ctx.killBlocked()).toBe(1);
      await untilBlocked(ctx, 1);
      const [id] = await openElsewhere<string>().putData(['after the kill']);
      expect(await waiter).toEqual(new Map([[expect.stringContaining(`${id}:`), 'after the kill']]));
      expect(await queue.stats()).toMatchObject({ inflight: 1, deliveries: 1 });
    }, IN_TIME);

    onServer('does the same for a dead-letter reader', async () => {
      const queue = open<string>('q', { useDead: true });
      const waiter = queue.dead.getData(1, { wait: LONG_WAIT });
      await untilBlocked(ctx, 1);
      expect(await ctx.killBlocked()).toBe(1);
      await untilBlocked(ctx, 1);
      await openElsewhere<string>().dead.putData(['dead letter']);
      expect([...(await waiter).values()]).toEqual(['dead letter']);
    }, IN_TIME);
  });

  it('serves many waiters on one queue from a burst of puts', async () => {
    const waiters = 8;
    const queue = open<number>();
    const reads = Array.from({ length: waiters }, () => queue.getData(1, { wait: LONG_WAIT }));
    await untilBlocked(ctx, waiters);
    const producer = openElsewhere<number>();
    await Promise.all(Array.from({ length: waiters }, (_, i) => producer.putData([i])));
    const got = (await Promise.all(reads)).map((items) => [...items.values()]);
    for (const items of got) expect(items).toHaveLength(1);
    expect(got.flat().sort((a, b) => a - b)).toEqual(Array.from({ length: waiters }, (_, i) => i));
  }, IN_TIME);

  it('serves many waiters on one queue from one put of many items', async () => {
    const waiters = 8;
    const queues = Array.from({ length: waiters }, () => openElsewhere<number>('q', { visTimeout: 30 }));
    const reads = queues.map((queue) => queue.getData(1, { wait: LONG_WAIT }));
    await untilBlocked(ctx, waiters);
    await open<number>().putData(Array.from({ length: waiters }, (_, i) => i));
    const got = (await Promise.all(reads)).map((items) => [...items.values()]);
    expect(got.flat().sort((a, b) => a - b)).toEqual(Array.from({ length: waiters }, (_, i) => i));
  }, IN_TIME);
});
