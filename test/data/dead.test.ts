import { describe, expect, it } from 'vitest';
import { DataQueue, VisqRangeError } from '../../src/index.js';
import { useStore } from '../harness/context.js';
import { useQueues } from '../harness/queues.js';
import { fullStats } from '../harness/stats.js';
import { queueBase } from '../../src/data/keys.js';
import { resolveStore } from '../../src/data/store.js';

const ctx = useStore();
const open = useQueues(ctx);

/** Reads every visible item once and lets the leases expire; returns the delivery numbers seen. */
async function failEverything<T>(queue: DataQueue<T>): Promise<number[]> {
  const seen = (await queue.getDeliveries(1000)).map((d) => d.delivery);
  ctx.advance(queue.settings.visTimeout);
  return seen;
}

/**
 * Puts `items` and fails them until their attempts are spent. Expired leases are settled
 * by the queue's next own operation (stats here); `dq.dead` and `redrive` alone do not
 * settle them (see 'settles expired leases' below).
 */
async function exhaust<T>(queue: DataQueue<T>, items: T[]): Promise<string[]> {
  const ids = await queue.putData(items);
  for (let i = 0; i < queue.settings.attempts; i += 1) await failEverything(queue);
  await queue.stats();
  return ids;
}

describe('attempts', () => {
  it('delivers an item exactly `attempts` times, then dead-letters it with useDead', async () => {
    ctx.freeze(Date.now());
    const queue = open<string>('q', { visTimeout: 10, attempts: 3, useDead: true });
    await queue.putData(['x']);
    const seen: number[] = [];
    for (let i = 0; i < 5; i += 1) seen.push(...(await failEverything(queue)));
    expect(seen).toEqual([1, 2, 3]);
    expect(await queue.stats()).toMatchObject({ ready: 0, inflight: 0, dead: 1, dropped: 0 });
    expect([...(await queue.dead.peekData(10)).values()]).toEqual(['x']);
  });

  it('delivers an item exactly `attempts` times, then drops it without useDead', async () => {
    ctx.freeze(Date.now());
    const queue = open<string>('q', { visTimeout: 10, attempts: 3 });
    await queue.putData(['x']);
    const seen: number[] = [];
    for (let i = 0; i < 5; i += 1) seen.push(...(await failEverything(queue)));
    expect(seen).toEqual([1, 2, 3]);
    expect(await queue.stats()).toMatchObject({ ready: 0, inflight: 0, dead: 0, dropped: 1 });
    expect((await queue.dead.peekData(10)).size).toBe(0);
  });

  it('allows one delivery by default', async () => {
    ctx.freeze(Date.now());
    const queue = open<string>('q', { visTimeout: 10 });
    expect(queue.settings.attempts).toBe(1);
    await queue.putData(['x']);
    expect(await failEverything(queue)).toEqual([1]);
    expect(await failEverything(queue)).toEqual([]);
    expect(await queue.stats()).toMatchObject({ dropped: 1 });
  });

  it('counts each exhausted item once in stats.dropped', async () => {
    ctx.freeze(Date.now());
    const queue = open<number>('q', { visTimeout: 10, attempts: 2 });
    await exhaust(queue, [1, 2, 3]);
    await queue.putData([4]);
    await exhaust(queue, []);
    expect(await queue.stats()).toMatchObject({ ready: 0, inflight: 0, dropped: 4 });
  });

  it('does not spend attempts on a finished item', async () => {
    ctx.freeze(Date.now());
    const queue = open<string>('q', { visTimeout: 10, attempts: 1, useDead: true });
    await queue.putData(['x']);
    await queue.doneData(await queue.getData(1));
    ctx.advance(10);
    expect(await queue.stats()).toMatchObject({ dead: 0, dropped: 0 });
  });

  it('dead-letters in the order the last deliveries ended, then in put order', async () => {
    ctx.freeze(Date.now());
    const queue = open<string>('q', { visTimeout: 10, useDead: true });
    await queue.putData(['a', 'b', 'c', 'd']);
    // a and b are read first but hold longer leases, so their deliveries end last;
    // one step notices all five expiries, and the order must not depend on that
    await queue.getData(2, { visTimeout: 20 });
    await queue.putData(['e']);
    await queue.getData(10, { visTimeout: 10 });
    ctx.advance(20);
    await queue.stats();
    expect([...(await queue.dead.peekData(10)).values()]).toEqual(['c', 'd', 'e', 'a', 'b']);
  });
});

describe('dead', () => {
  it('is a DataQueue of the same item type, the same object each time', async () => {
    const queue = open<string>('q', { visTimeout: 10, useDead: true });
    expect(queue.dead).toBeInstanceOf(DataQueue);
    expect(queue.dead).toBe(queue.dead);
    expect(queue.dead.prefix).toBe(queue.prefix);
    expect(queue.dead.name).not.toBe(queue.name);
  });

  it('reads at-most-once with one attempt by default', async () => {
    const queue = open<string>('q', { visTimeout: 10, attempts: 5, useDead: true });
    expect(queue.dead.settings).toMatchObject({ visTimeout: 0, attempts: 1, useDead: false });
  });

  it('offers the same API: peekData, getData, getDeliveries, stats, doneData', async () => {
    ctx.freeze(Date.now());
    const queue = open<string>('q', { visTimeout: 10, useDead: true });
    await exhaust(queue, ['a', 'b', 'c']);
    const { dead } = queue;
    expect(await dead.stats()).toMatchObject({ ready: 3, inflight: 0, delayed: 0, dead: 0 });
    expect([...(await dead.peekData(3)).values()]).toEqual(['a', 'b', 'c']);
    expect([...(await dead.getData(1)).values()]).toEqual(['a']);
    const held = await dead.getDeliveries(1, { visTimeout: 30 });
    expect(held.map((d) => [d.item, d.delivery])).toEqual([['b', 1]]);
    expect(await dead.stats()).toMatchObject({ ready: 1, inflight: 1 });
    expect(await dead.doneData([held[0]?.lease as string])).toBe(1);
    expect(await queue.stats()).toMatchObject({ dead: 1 });
  });

  it('takes puts like any queue, and those count in the parent stats', async () => {
    const queue = open<string>('q');
    await queue.dead.putData(['by hand']);
    expect(await queue.stats()).toMatchObject({ ready: 0, dead: 1 });
    expect(await queue.redrive()).toBe(1);
    expect([...(await queue.getData(1)).values()]).toEqual(['by hand']);
  });

  it('lives in the same hash slot as its queue', async () => {
    ctx.freeze(Date.now());
    const queue = open<string>('q', { visTimeout: 10, useDead: true });
    await exhaust(queue, ['x']);
    await queue.dead.getData(1, { visTimeout: 30 });
    const keys = Object.keys(await ctx.snapshot());
    const deadKeys = keys.filter((key) => key.includes(':dead'));
    expect(deadKeys.length).toBeGreaterThan(0);
    for (const key of keys) expect(key.startsWith(`{${ctx.prefix}:q}`)).toBe(true);
  });

  it('shows an item as soon as its last lease has expired, before the queue is used again', async () => {
    ctx.freeze(Date.now());
    const queue = open<string>('q', { visTimeout: 10, useDead: true });
    await queue.putData(['x']);
    await queue.getData(1);
    ctx.advance(10);
    // a monitor of dead letters may be the only client left when every worker is gone
    expect([...(await queue.dead.peekData(10)).values()]).toEqual(['x']);
    expect(await queue.dead.stats()).toMatchObject({ ready: 1 });
  });

  it('never dead-letters: refuses failData with useDead: true, naming the option, and changes nothing', async () => {
    const queue = open<string>('q', { visTimeout: 10, useDead: true });
    await queue.dead.putData(['poison']);
    const held = await queue.dead.getData(1, { visTimeout: 30 });
    const before = await ctx.snapshot();
    const failure = await queue.dead.failData(held, { useDead: true }).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(VisqRangeError);
    expect((failure as Error).message).toMatch(/^Expected `opts\.useDead` to be false .*dead-letter queue.*, got true \(boolean\)$/);
    expect(await ctx.snapshot()).toEqual(before);
    // what it does instead: drop the item, as with useDead false (the default there)
    expect(await queue.dead.failData(held)).toEqual(new Set(held.keys()));
    expect(fullStats(await queue.dead.stats())).toMatchObject({ ready: 0, inflight: 0, dead: 0, dropped: 1 });
  });

  it('is emptied by clear() of its queue', async () => {
    ctx.freeze(Date.now());
    const queue = open<string>('q', { visTimeout: 10, useDead: true });
    await exhaust(queue, ['x']);
    await queue.clear();
    expect(await queue.dead.stats()).toMatchObject({ ready: 0 });
    expect(await ctx.snapshot()).toEqual({});
  });

  it('leaves no key behind after clear(), even of a dead-letter queue of its own that an older version wrote', async () => {
    const queue = open<string>('q', { visTimeout: 10, useDead: true });
    await queue.putData(['x']);
    await queue.dead.putData(['y']);
    // what `dq.dead.failData(leases, { useDead: true })` wrote before it was refused
    const { store, owned } = resolveStore('store', ctx.store);
    await store.open(queueBase(ctx.prefix, 'q')).dead().dead().put({ payloads: ['"z"'], delayMs: 0, priority: 0, ttlMs: 0 });
    if (owned) await store.close();
    expect(Object.keys(await ctx.snapshot()).length).toBeGreaterThan(0);
    await queue.clear();
    expect(await ctx.snapshot()).toEqual({});
  });
});

describe('redrive', () => {
  it('moves every dead item back, in order, and returns how many', async () => {
    ctx.freeze(Date.now());
    const queue = open<string>('q', { visTimeout: 10, attempts: 2, useDead: true });
    const ids = await exhaust(queue, ['a', 'b', 'c']);
    expect(await queue.redrive()).toBe(3);
    expect(await queue.stats()).toMatchObject({ ready: 3, dead: 0 });
    const back = await queue.getDeliveries(10);
    expect(back.map((d) => d.item)).toEqual(['a', 'b', 'c']);
    expect(back.map((d) => d.id)).toEqual(ids);
  });

  it('moves up to `count` items, oldest dead letters first', async () => {
    ctx.freeze(Date.now());
    const queue = open<string>('q', { visTimeout: 10, useDead: true });
    await exhaust(queue, ['a', 'b', 'c']);
    expect(await queue.redrive(2)).toBe(2);
    expect([...(await queue.peekData(10)).values()]).toEqual(['a', 'b']);
    expect([...(await queue.dead.peekData(10)).values()]).toEqual(['c']);
    expect(await queue.redrive(5)).toBe(1);
    expect([...(await queue.peekData(10)).values()]).toEqual(['a', 'b', 'c']);
  });

  it('gives redriven items fresh attempts', async () => {
    ctx.freeze(Date.now());
    const queue = open<string>('q', { visTimeout: 10, attempts: 2, useDead: true });
    await exhaust(queue, ['x']);
    await queue.redrive();
    const seen: number[] = [];
    for (let i = 0; i < 4; i += 1) seen.push(...(await failEverything(queue)));
    expect(seen).toEqual([1, 2]);
    expect(await queue.stats()).toMatchObject({ dead: 1 });
  });

  it('puts redriven items after the items already waiting', async () => {
    ctx.freeze(Date.now());
    const queue = open<string>('q', { visTimeout: 10, useDead: true });
    await exhaust(queue, ['dead']);
    await queue.putData(['waiting']);
    await queue.redrive();
    expect([...(await queue.peekData(10)).values()]).toEqual(['waiting', 'dead']);
  });

  it('keeps the priority of a redriven item', async () => {
    ctx.freeze(Date.now());
    const queue = open<string>('q', { visTimeout: 10, useDead: true });
    await queue.putData(['urgent'], { priority: 5 });
    await exhaust(queue, []);
    await queue.putData(['normal']);
    await queue.redrive();
    expect([...(await queue.peekData(10)).values()]).toEqual(['urgent', 'normal']);
  });

  it('leaves dead items that are held or delayed where they are', async () => {
    ctx.freeze(Date.now());
    const queue = open<string>('q', { visTimeout: 10, useDead: true });
    await exhaust(queue, ['held', 'free']);
    await queue.dead.getData(1, { visTimeout: 30 });
    await queue.dead.putData(['later'], { delay: 30 });
    expect(await queue.redrive()).toBe(1);
    expect([...(await queue.peekData(10)).values()]).toEqual(['free']);
    expect(await queue.stats()).toMatchObject({ dead: 2 });
  });

  it('moves items whose last lease has expired, before the queue is used again', async () => {
    ctx.freeze(Date.now());
    const queue = open<string>('q', { visTimeout: 10, useDead: true });
    await queue.putData(['x']);
    await queue.getData(1);
    ctx.advance(10);
    expect(await queue.redrive()).toBe(1);
    expect([...(await queue.getData(1)).values()]).toEqual(['x']);
  });

  it('returns 0 when there is nothing to redrive', async () => {
    const queue = open<string>('q', { visTimeout: 10, useDead: true });
    expect(await queue.redrive()).toBe(0);
    expect(await queue.redrive(10)).toBe(0);
    expect(await ctx.snapshot()).toEqual({});
  });

  it('moves nothing when asked for 0 items', async () => {
    const queue = open<string>('q', { visTimeout: 1, useDead: true });
    await queue.putData(['x']);
    await queue.getData(1);
    ctx.advance(2);
    await queue.stats();
    expect(await queue.redrive(0)).toBe(0);
    expect(await queue.stats()).toMatchObject({ ready: 0, dead: 1 });
  });

  it('moves more than 1000 items', async () => {
    ctx.freeze(Date.now());
    const queue = open<number>('q', { visTimeout: 10, useDead: true });
    const values = Array.from({ length: 2100 }, (_, i) => i);
    await queue.putData(values);
    for (let i = 0; i < 3; i += 1) await queue.getData(1000);
    ctx.advance(10);
    expect(await queue.stats()).toMatchObject({ dead: 2100 });
    expect(await queue.redrive(1500)).toBe(1500);
    expect(await queue.redrive()).toBe(600);
    const back: number[] = [];
    for (let i = 0; i < 3; i += 1) back.push(...(await queue.getData(1000, { visTimeout: 0 })).values());
    expect(back).toEqual(values);
  });
});
