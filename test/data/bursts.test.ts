/**
 * Big bursts: thousands of items that change state in one step (leases expiring at once,
 * a failData or releaseData of thousands of leases, delays ending, ttl windows closing).
 * One step must handle them all or none: a script that fails half-way loses items, as
 * Redis does not roll a script back. Every item is accounted for afterwards.
 */
import { describe, expect, it } from 'vitest';
import type { DataQueue } from '../../src/index.js';
import { useStore } from '../harness/context.js';
import { useQueues } from '../harness/queues.js';
import { fullStats } from '../harness/stats.js';

const ctx = useStore();
const open = useQueues(ctx);

/** More than Lua can unpack into one call (about 8,000 values). */
const BURST = 9_000;

function numbers(n: number, from = 0): number[] {
  return Array.from({ length: n }, (_, i) => from + i);
}

/** Leases every visible item, 1000 at a time; returns the leases. */
async function leaseAll<T>(queue: DataQueue<T>): Promise<string[]> {
  const leases: string[] = [];
  for (let batch = await queue.getData(1000); batch.size > 0; batch = await queue.getData(1000)) leases.push(...batch.keys());
  return leases;
}

/** Reads every visible item of `queue` at most once, in delivery order. */
async function drain<T>(queue: DataQueue<T>): Promise<T[]> {
  const items: T[] = [];
  for (let batch = await queue.getData(1000, { visTimeout: 0 }); batch.size > 0; batch = await queue.getData(1000, { visTimeout: 0 })) {
    items.push(...batch.values());
  }
  return items;
}

describe('a burst of dead letters', () => {
  it(`dead-letters ${BURST} leases that expire at once, losing none`, async () => {
    ctx.freeze(Date.now());
    const queue = open<number>('q', { visTimeout: 1, attempts: 1, useDead: true });
    await queue.putData(numbers(BURST));
    expect(await leaseAll(queue)).toHaveLength(BURST);
    ctx.advance(1);
    expect(await queue.getData(1)).toEqual(new Map());
    expect(fullStats(await queue.stats())).toMatchObject({
      ready: 0, inflight: 0, dead: BURST, puts: BURST, deliveries: BURST, expiries: BURST, deadLettered: BURST, dropped: 0,
    });
    expect(await drain(queue.dead)).toEqual(numbers(BURST));
  });

  it('dead-letters 5,000 prioritised leases that expire at once, losing none', async () => {
    ctx.freeze(Date.now());
    const queue = open<number>('q', { visTimeout: 1, attempts: 1, useDead: true });
    await queue.putData(numbers(5_000), { priority: 5 });
    await queue.putData([-1]);
    expect(await leaseAll(queue)).toHaveLength(5_001);
    ctx.advance(1);
    expect(fullStats(await queue.stats())).toMatchObject({ inflight: 0, dead: 5_001, expiries: 5_001, deadLettered: 5_001 });
    // dead letters keep their priority
    expect(await drain(queue.dead)).toEqual([...numbers(5_000), -1]);
  });

  it(`fails ${BURST} leases in one failData call, losing none`, async () => {
    const queue = open<number>('q', { visTimeout: 60, useDead: true });
    await queue.putData(numbers(BURST));
    const leases = await leaseAll(queue);
    expect((await queue.failData(leases)).size).toBe(BURST);
    expect(fullStats(await queue.stats())).toMatchObject({ inflight: 0, dead: BURST, deadLettered: BURST, dropped: 0 });
    expect(await drain(queue.dead)).toEqual(numbers(BURST));
  });

  it(`releases ${BURST} leases whose attempts are spent in one releaseData call, losing none`, async () => {
    const queue = open<number>('q', { visTimeout: 60, useDead: true });
    await queue.putData(numbers(BURST), { priority: -3 });
    const leases = await leaseAll(queue);
    const { requeued, exhausted } = await queue.releaseData(leases);
    expect([requeued.size, exhausted.size]).toEqual([0, BURST]);
    expect(fullStats(await queue.stats())).toMatchObject({ inflight: 0, dead: BURST, deadLettered: BURST });
    expect(await drain(queue.dead)).toEqual(numbers(BURST));
  });

  it(`requeues ${BURST} released leases with a delay in one call, losing none`, async () => {
    ctx.freeze(Date.now());
    const queue = open<number>('q', { visTimeout: 60, attempts: 2 });
    await queue.putData(numbers(BURST));
    const leases = await leaseAll(queue);
    expect((await queue.releaseData(leases, { delay: 5 })).requeued.size).toBe(BURST);
    expect(await queue.stats()).toMatchObject({ ready: 0, delayed: BURST, inflight: 0 });
    ctx.advance(5);
    expect(await drain(queue)).toEqual(numbers(BURST));
  });
});

describe('a burst of timers', () => {
  it(`makes ${BURST} delayed items visible at once, in put order`, async () => {
    ctx.freeze(Date.now());
    const queue = open<number>('q');
    await queue.putData(numbers(BURST), { delay: 1, ttl: 60 });
    ctx.advance(1);
    expect(await queue.stats()).toMatchObject({ ready: BURST, delayed: 0 });
    expect(await drain(queue)).toEqual(numbers(BURST));
  });

  it(`drops ${BURST} items whose ttl ends at once, and counts them`, async () => {
    ctx.freeze(Date.now());
    const queue = open<number>('q');
    await queue.putData(numbers(BURST), { ttl: 1 });
    await queue.putData([-1]);
    ctx.advance(1);
    expect(fullStats(await queue.stats())).toMatchObject({ ready: 1, expired: BURST });
    expect(await drain(queue)).toEqual([-1]);
  });

  it(`redrives ${BURST} dead letters, in order`, async () => {
    ctx.freeze(Date.now());
    const queue = open<number>('q', { visTimeout: 1, useDead: true });
    await queue.putData(numbers(BURST));
    await leaseAll(queue);
    ctx.advance(1);
    expect(await queue.redrive()).toBe(BURST);
    expect(await queue.stats()).toMatchObject({ ready: BURST, dead: 0 });
    expect(await drain(queue)).toEqual(numbers(BURST));
  });
});

describe('order in a burst of ttl expiries', () => {
  // one step of maintenance drops about 20,000 items whose ttl ended; reads skip the rest
  const PAST_ONE_STEP = 21_000;

  /** Puts `n` items of priority 5 whose ttl ends at once, then what the test reads. */
  async function expireBehind<T>(queue: DataQueue<T | number>, after: () => Promise<unknown>, n = PAST_ONE_STEP): Promise<void> {
    ctx.freeze(Date.now());
    for (let start = 0; start < n; start += 1000) await queue.putData(numbers(1000, start), { priority: 5, ttl: 1 });
    await after();
    ctx.advance(1);
  }

  it('reads the highest priority first when more than one step of ttl windows close at once', async () => {
    const queue = open<string | number>('q');
    await expireBehind(queue, async () => {
      await queue.putData(['urgent'], { priority: 5 });
      await queue.putData(['plain']);
    });
    expect([...(await queue.peekData(2)).values()]).toEqual(['urgent', 'plain']);
    expect([...(await queue.getData(1)).values()]).toEqual(['urgent']);
    expect([...(await queue.getData(1)).values()]).toEqual(['plain']);
    expect(fullStats(await queue.stats())).toMatchObject({ ready: 0, expired: PAST_ONE_STEP, deliveries: 2 });
  });

  it('skips expired items beyond one page of the sorted set', async () => {
    const queue = open<string | number>('q');
    await expireBehind(queue, () => queue.putData(['a', 'b', 'c'], { priority: 5 }));
    await queue.putData(['low'], { priority: -1 });
    expect([...(await queue.getData(10)).values()]).toEqual(['a', 'b', 'c', 'low']);
    expect(fullStats(await queue.stats())).toMatchObject({ ready: 0, expired: PAST_ONE_STEP });
  });

  it('lets a blocking read go on at once past more expired items than one read skips', async () => {
    const queue = open<string | number>('q');
    // maintenance and the read each get through about 20,000: this read needs a second one
    await expireBehind(queue, () => queue.putData(['urgent'], { priority: 5 }), 2 * PAST_ONE_STEP);
    expect([...(await queue.getData(1, { wait: 60 })).values()]).toEqual(['urgent']);
  }, 10_000);
});
