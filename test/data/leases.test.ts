import { describe, expect, it } from 'vitest';
import { DataQueue } from '../../src/index.js';
import { useStore } from '../harness/context.js';
import { useQueues } from '../harness/queues.js';

const ctx = useStore();
const open = useQueues(ctx);

function only<K>(keys: Iterable<K>): K {
  const all = [...keys];
  expect(all).toHaveLength(1);
  return all[0] as K;
}

/**
 * Strings that are not live leases of `queue`: stale, done, forged from real leases,
 * malformed, or leases of another queue that share its entry numbers.
 */
async function deadLeases(queue: DataQueue<string>): Promise<{ label: string; lease: string }[]> {
  await queue.putData(['stale', 'done']);
  const [stale, done] = [...(await queue.getData(2, { visTimeout: 1 })).keys()] as [string, string];
  await queue.doneData([done]);
  ctx.advance(1);
  await queue.putData(['held-1', 'held-2']);
  const [first, second] = [...(await queue.getData(2)).keys()] as [string, string];
  await queue.putData(['held-3']);
  const third = only((await queue.getData(1)).keys());
  // an item id joined with the delivery part of a lease from another read batch
  const idOf = (lease: string): string => DataQueue.itemId(lease);
  const crossed = idOf(first) + third.slice(idOf(third).length);
  const other = open<string>('other', { visTimeout: 30 });
  await other.putData(['foreign']);
  await other.getData(1);
  await other.putData(['foreign-2']);
  const foreign = only((await other.getData(1)).keys());
  return [
    { label: 'a stale lease (expired, item redelivered)', lease: stale },
    { label: 'a lease already done', lease: done },
    { label: 'an item id joined to another batch', lease: crossed },
    { label: 'an item id with an unknown delivery', lease: `${idOf(second)}:999999` },
    { label: 'a lease with a suffix', lease: `${second}0` },
    { label: 'a lease with a prefix', lease: `x${second}` },
    { label: 'an item id', lease: idOf(second) },
    { label: 'a lease of another queue', lease: foreign },
    { label: 'an empty string', lease: '' },
    { label: 'a colon and a number', lease: ':1' },
    { label: 'letters after the colon', lease: 'abc:def' },
    { label: 'plain text', lease: 'not a lease' },
    { label: 'a very long string', lease: `${'x'.repeat(10_000)}:1` },
  ];
}

describe('refreshData', () => {
  it('extends a live lease to now + the queue visTimeout', async () => {
    ctx.freeze(Date.now());
    const queue = open<string>('q', { visTimeout: 10, attempts: 2 });
    await queue.putData(['x']);
    const items = await queue.getData(1);
    ctx.advance(8);
    expect(await queue.refreshData(items)).toEqual(new Set(items.keys()));
    ctx.advance(9.9);
    expect((await queue.getData(1)).size).toBe(0);
    expect(await queue.stats()).toMatchObject({ inflight: 1 });
    ctx.advance(0.1);
    expect((await queue.getData(1)).size).toBe(1);
  });

  it('extends by the given visTimeout', async () => {
    ctx.freeze(Date.now());
    const queue = open<string>('q', { visTimeout: 10, attempts: 2 });
    await queue.putData(['x']);
    const items = await queue.getData(1);
    await queue.refreshData(items, { visTimeout: 100 });
    ctx.advance(99);
    expect((await queue.getData(1)).size).toBe(0);
    expect(await queue.doneData(items)).toBe(1);
  });

  it('can shorten a lease', async () => {
    ctx.freeze(Date.now());
    const queue = open<string>('q', { visTimeout: 100, attempts: 2 });
    await queue.putData(['x']);
    const items = await queue.getData(1);
    await queue.refreshData(items, { visTimeout: 1 });
    ctx.advance(1);
    expect([...(await queue.getData(1)).values()]).toEqual(['x']);
  });

  it('extends a lease read with a per-read visTimeout on a queue without a default', async () => {
    ctx.freeze(Date.now());
    const queue = open<string>('q', { attempts: 2 });
    await queue.putData(['x']);
    const items = await queue.getData(1, { visTimeout: 5 });
    ctx.advance(4);
    expect((await queue.refreshData(items, { visTimeout: 5 })).size).toBe(1);
    ctx.advance(4);
    expect((await queue.getData(1)).size).toBe(0);
  });

  it('extends only the given leases of a read batch; the others expire on time', async () => {
    ctx.freeze(Date.now());
    const queue = open<string>('q', { visTimeout: 10, attempts: 2 });
    await queue.putData(['a', 'b', 'c']);
    const items = await queue.getData(3);
    const [a, b, c] = [...items.keys()] as [string, string, string];
    ctx.advance(5);
    expect(await queue.refreshData([b])).toEqual(new Set([b]));
    ctx.advance(5);
    expect([...(await queue.getData(10)).values()]).toEqual(['a', 'c']);
    expect(await queue.doneData([a, c])).toBe(0);
    expect(await queue.doneData([b])).toBe(1);
  });

  it('extends a lease again and again', async () => {
    ctx.freeze(Date.now());
    const queue = open<string>('q', { visTimeout: 10, attempts: 2 });
    await queue.putData(['a', 'b']);
    const items = await queue.getData(2);
    const [a] = items.keys() as IterableIterator<string>;
    for (let i = 0; i < 5; i += 1) {
      ctx.advance(9);
      expect((await queue.refreshData([a as string])).size).toBe(1);
    }
    expect([...(await queue.getData(10)).values()]).toEqual(['b']);
    expect(await queue.doneData(items)).toBe(1);
  });

  it('returns the Set of leases extended, each once', async () => {
    const queue = open<string>('q', { visTimeout: 10 });
    await queue.putData(['a', 'b']);
    const leases = [...(await queue.getData(2)).keys()];
    const refreshed = await queue.refreshData([...leases, ...leases]);
    expect(refreshed).toBeInstanceOf(Set);
    expect(refreshed).toEqual(new Set(leases));
  });

  it('accepts the Map from getData, a Set, an array and any iterable', async () => {
    const queue = open<string>('q', { visTimeout: 10 });
    await queue.putData(['a', 'b']);
    const items = await queue.getData(2);
    const leases = new Set(items.keys());
    function* generate(): Generator<string> {
      yield* leases;
    }
    for (const input of [items, leases, [...leases], generate(), items.keys()]) {
      expect(await queue.refreshData(input)).toEqual(leases);
    }
  });

  it('leaves out every string that is not a live lease, and changes nothing for it', async () => {
    ctx.freeze(Date.now());
    const queue = open<string>('q', { visTimeout: 10, attempts: 2 });
    const cases = await deadLeases(queue);
    const live = [...(await queue.getData(10)).keys()];
    expect(live).toHaveLength(1); // the stale item, redelivered
    const before = await ctx.snapshot();
    for (const { label, lease } of cases) {
      expect({ label, refreshed: [...(await queue.refreshData([lease]))] }).toEqual({ label, refreshed: [] });
    }
    expect(await queue.refreshData(cases.map((c) => c.lease))).toEqual(new Set());
    expect(await ctx.snapshot()).toEqual(before);
  });

  it('extends the live leases of a mixed list and leaves the rest out', async () => {
    ctx.freeze(Date.now());
    const queue = open<string>('q', { visTimeout: 10, attempts: 2 });
    const cases = await deadLeases(queue);
    await queue.putData(['fresh']);
    const live = [...(await queue.getData(10)).keys()];
    expect(live).toHaveLength(2); // 'stale', redelivered, and 'fresh'
    const refreshed = await queue.refreshData([...cases.map((c) => c.lease), ...live]);
    expect(refreshed).toEqual(new Set(live));
  });

  it('does not extend a lease that has expired, even before the item is read again', async () => {
    ctx.freeze(Date.now());
    const queue = open<string>('q', { visTimeout: 10, attempts: 2 });
    await queue.putData(['x']);
    const items = await queue.getData(1);
    ctx.advance(10);
    expect(await queue.refreshData(items)).toEqual(new Set());
    expect([...(await queue.getData(1)).values()]).toEqual(['x']);
  });

});

describe('doneData', () => {
  it('finishes the items for good and returns how many', async () => {
    ctx.freeze(Date.now());
    const queue = open<string>('q', { visTimeout: 10, attempts: 3, useDead: true });
    await queue.putData(['a', 'b', 'c']);
    const items = await queue.getData(2);
    expect(await queue.doneData(items)).toBe(2);
    ctx.advance(100);
    expect([...(await queue.getData(10)).values()]).toEqual(['c']);
    expect(await queue.stats()).toMatchObject({ ready: 0, inflight: 1, dead: 0, dropped: 0 });
  });

  it('accepts the Map from getData, a Set, an array and any iterable', async () => {
    const queue = open<number>('q', { visTimeout: 10 });
    await queue.putData([1, 2, 3, 4, 5]);
    const items = await queue.getData(5);
    const [a, b, c, d] = [...items.keys()] as [string, string, string, string, string];
    items.delete(a);
    items.delete(b);
    items.delete(c);
    items.delete(d);
    function* generate(): Generator<string> {
      yield c;
    }
    expect(await queue.doneData(items)).toBe(1);
    expect(await queue.doneData(new Set([a]))).toBe(1);
    expect(await queue.doneData([b])).toBe(1);
    expect(await queue.doneData(generate())).toBe(1);
    expect(await queue.doneData(new Map([[d, 4]]).keys())).toBe(1);
    expect(await queue.stats()).toMatchObject({ inflight: 0, ready: 0 });
  });

  it('counts a lease given twice once', async () => {
    const queue = open<string>('q', { visTimeout: 10 });
    await queue.putData(['x']);
    const lease = only((await queue.getData(1)).keys());
    expect(await queue.doneData([lease, lease])).toBe(1);
    expect(await queue.doneData([lease])).toBe(0);
  });

  it('returns 0 for no leases', async () => {
    expect(await open('q', { visTimeout: 10 }).doneData([])).toBe(0);
  });

  it('is a no-op for a stale lease: a slow consumer cannot finish an item someone else holds', async () => {
    ctx.freeze(Date.now());
    const queue = open<string>('q', { visTimeout: 10, attempts: 2 });
    await queue.putData(['x']);
    const slow = await queue.getData(1);
    ctx.advance(10);
    const fast = await queue.getData(1);
    expect(await queue.doneData(slow)).toBe(0);
    expect(await queue.stats()).toMatchObject({ inflight: 1 });
    expect(await queue.doneData(fast)).toBe(1);
    expect(await queue.stats()).toMatchObject({ inflight: 0, ready: 0 });
  });

  it('is a no-op once the lease has expired, even before the item is read again', async () => {
    ctx.freeze(Date.now());
    const queue = open<string>('q', { visTimeout: 10, attempts: 2 });
    await queue.putData(['x']);
    const items = await queue.getData(1);
    ctx.advance(10);
    expect(await queue.doneData(items)).toBe(0);
    expect([...(await queue.getData(1)).values()]).toEqual(['x']);
  });

  it('is a no-op for the lease of a dead-lettered item', async () => {
    ctx.freeze(Date.now());
    const queue = open<string>('q', { visTimeout: 10, useDead: true });
    await queue.putData(['x']);
    const items = await queue.getData(1);
    ctx.advance(10);
    expect(await queue.stats()).toMatchObject({ dead: 1 });
    expect(await queue.doneData(items)).toBe(0);
    expect(await queue.stats()).toMatchObject({ dead: 1 });
  });

  it('finishes refreshed and not refreshed leases of one batch alike', async () => {
    ctx.freeze(Date.now());
    const queue = open<string>('q', { visTimeout: 10 });
    await queue.putData(['a', 'b', 'c']);
    const items = await queue.getData(3);
    const [, b] = [...items.keys()] as [string, string, string];
    await queue.refreshData([b], { visTimeout: 60 });
    expect(await queue.doneData(items)).toBe(3);
    expect(await ctx.snapshot()).toEqual(
      expect.not.objectContaining({ [`{${ctx.prefix}:q}:owners`]: expect.anything() }),
    );
    expect(await queue.stats()).toMatchObject({ ready: 0, inflight: 0 });
  });

  it('leaves out every string that is not a live lease, and changes nothing for it', async () => {
    ctx.freeze(Date.now());
    const queue = open<string>('q', { visTimeout: 10, attempts: 2 });
    const cases = await deadLeases(queue);
    const before = await ctx.snapshot();
    for (const { label, lease } of cases) {
      expect({ label, done: await queue.doneData([lease]) }).toEqual({ label, done: 0 });
    }
    expect(await queue.doneData(cases.map((c) => c.lease))).toBe(0);
    expect(await ctx.snapshot()).toEqual(before);
  });
});

describe('releaseData', () => {
  it('makes the items visible again at once, using one attempt', async () => {
    ctx.freeze(Date.now());
    const queue = open<string>('q', { visTimeout: 30, attempts: 3 });
    await queue.putData(['x']);
    const items = await queue.getData(1);
    const result = await queue.releaseData(items);
    expect(result).toEqual({ requeued: new Set(items.keys()), exhausted: new Set() });
    const again = await queue.getDeliveries(1);
    expect(again.map((d) => [d.item, d.delivery])).toEqual([['x', 2]]);
    expect(await queue.doneData(items)).toBe(0);
  });

  it('keeps a released item in its put order', async () => {
    const queue = open<string>('q', { visTimeout: 30, attempts: 3 });
    await queue.putData(['a', 'b', 'c']);
    const items = await queue.getData(1);
    await queue.releaseData(items);
    expect([...(await queue.getData(3)).values()]).toEqual(['a', 'b', 'c']);
  });

  it('hides the items for `delay` seconds', async () => {
    ctx.freeze(Date.now());
    const queue = open<string>('q', { visTimeout: 30, attempts: 3 });
    await queue.putData(['x']);
    await queue.releaseData(await queue.getData(1), { delay: 20 });
    expect(await queue.stats()).toMatchObject({ ready: 0, delayed: 1, inflight: 0 });
    ctx.advance(19.9);
    expect((await queue.getData(1)).size).toBe(0);
    ctx.advance(0.1);
    expect([...(await queue.getData(1)).values()]).toEqual(['x']);
  });

  it('keeps the attempt with countDelivery: false', async () => {
    const queue = open<string>('q', { visTimeout: 30, attempts: 1 });
    await queue.putData(['x']);
    for (let i = 0; i < 3; i += 1) {
      const items = await queue.getDeliveries(1);
      expect(items.map((d) => d.delivery)).toEqual([1]);
      const result = await queue.releaseData([items[0]?.lease as string], { countDelivery: false });
      expect(result.requeued.size).toBe(1);
    }
    expect(await queue.stats()).toMatchObject({ ready: 1, dropped: 0 });
  });

  it('drops an item whose attempts are spent and reports it as exhausted', async () => {
    const queue = open<string>('q', { visTimeout: 30, attempts: 2 });
    await queue.putData(['x']);
    const first = await queue.getData(1);
    expect((await queue.releaseData(first)).requeued).toEqual(new Set(first.keys()));
    const second = await queue.getData(1);
    expect(await queue.releaseData(second)).toEqual({ requeued: new Set(), exhausted: new Set(second.keys()) });
    expect(await queue.stats()).toMatchObject({ ready: 0, inflight: 0, dead: 0, dropped: 1 });
    expect((await queue.getData(1)).size).toBe(0);
  });

  it('dead-letters an item whose attempts are spent with useDead', async () => {
    const queue = open<string>('q', { visTimeout: 30, useDead: true });
    await queue.putData(['x']);
    const items = await queue.getData(1);
    expect((await queue.releaseData(items)).exhausted).toEqual(new Set(items.keys()));
    expect(await queue.stats()).toMatchObject({ ready: 0, dead: 1, dropped: 0 });
    expect([...(await queue.dead.peekData(1)).values()]).toEqual(['x']);
  });

  it('releases part of a batch; the rest stays held', async () => {
    const queue = open<string>('q', { visTimeout: 30, attempts: 2 });
    await queue.putData(['a', 'b']);
    const [a, b] = [...(await queue.getData(2)).keys()] as [string, string];
    await queue.releaseData([b]);
    expect(await queue.stats()).toMatchObject({ ready: 1, inflight: 1 });
    expect(await queue.doneData([a])).toBe(1);
  });

  it('releases a refreshed lease', async () => {
    const queue = open<string>('q', { visTimeout: 30, attempts: 2 });
    await queue.putData(['a', 'b']);
    const [a] = [...(await queue.getData(2)).keys()] as [string, string];
    await queue.refreshData([a]);
    expect((await queue.releaseData([a])).requeued).toEqual(new Set([a]));
    expect([...(await queue.getData(1)).values()]).toEqual(['a']);
  });

  it('leaves out every string that is not a live lease, and changes nothing for it', async () => {
    ctx.freeze(Date.now());
    const queue = open<string>('q', { visTimeout: 10, attempts: 2 });
    const cases = await deadLeases(queue);
    const before = await ctx.snapshot();
    const result = await queue.releaseData(cases.map((c) => c.lease));
    expect(result).toEqual({ requeued: new Set(), exhausted: new Set() });
    expect(await ctx.snapshot()).toEqual(before);
  });
});

describe('failData', () => {
  it('dead-letters the items with useDead, whatever attempts are left', async () => {
    ctx.freeze(Date.now());
    const queue = open<string>('q', { visTimeout: 10, attempts: 5, useDead: true });
    await queue.putData(['x', 'y']);
    const items = await queue.getData(1);
    expect(await queue.failData(items)).toEqual(new Set(items.keys()));
    expect(await queue.stats()).toMatchObject({ ready: 1, inflight: 0, dead: 1, dropped: 0 });
    expect([...(await queue.dead.peekData(10)).values()]).toEqual(['x']);
    ctx.advance(100);
    expect([...(await queue.getData(10)).values()]).toEqual(['y']);
  });

  it('drops the items without useDead', async () => {
    const queue = open<string>('q', { visTimeout: 10, attempts: 5 });
    await queue.putData(['x']);
    const items = await queue.getData(1);
    expect(await queue.failData(items)).toEqual(new Set(items.keys()));
    expect(await queue.stats()).toMatchObject({ ready: 0, inflight: 0, dead: 0, dropped: 1 });
  });

  it.each([
    { useDead: true, queueUseDead: false, dead: 1, dropped: 0 },
    { useDead: false, queueUseDead: true, dead: 0, dropped: 1 },
  ])('follows opts.useDead $useDead over the queue setting', async ({ useDead, queueUseDead, dead, dropped }) => {
    const queue = open<string>('q', { visTimeout: 10, attempts: 5, useDead: queueUseDead });
    await queue.putData(['x']);
    await queue.failData(await queue.getData(1), { useDead });
    expect(await queue.stats()).toMatchObject({ dead, dropped });
  });

  it('dead-letters the items of one call in put order', async () => {
    const queue = open<string>('q', { visTimeout: 10, useDead: true });
    await queue.putData(['a', 'b', 'c']);
    const [a] = [...(await queue.getData(1)).keys()] as [string];
    const [b, c] = [...(await queue.getData(2)).keys()] as [string, string];
    await queue.failData([c, a, b]);
    expect([...(await queue.dead.peekData(10)).values()]).toEqual(['a', 'b', 'c']);
  });

  it('fails a refreshed lease', async () => {
    const queue = open<string>('q', { visTimeout: 10 });
    await queue.putData(['a', 'b']);
    const [a] = [...(await queue.getData(2)).keys()] as [string, string];
    await queue.refreshData([a]);
    expect(await queue.failData([a])).toEqual(new Set([a]));
    expect(await queue.stats()).toMatchObject({ inflight: 1, dropped: 1 });
  });

  it('leaves out every string that is not a live lease, and changes nothing for it', async () => {
    ctx.freeze(Date.now());
    const queue = open<string>('q', { visTimeout: 10, attempts: 2, useDead: true });
    const cases = await deadLeases(queue);
    const before = await ctx.snapshot();
    expect(await queue.failData(cases.map((c) => c.lease))).toEqual(new Set());
    expect(await ctx.snapshot()).toEqual(before);
  });
});

describe('refreshData, doneData, releaseData and failData', () => {
  it('leaves out any number of forged leases', async () => {
    const queue = open<string>('q', { visTimeout: 10 });
    await queue.putData(['x']);
    const lease = only((await queue.getData(1)).keys());
    const suffix = lease.slice(DataQueue.itemId(lease).length);
    const forged = Array.from({ length: 10_000 }, (_, i) => `forged-${i}${suffix}`);
    const before = await ctx.snapshot();
    // a failure would carry all 10,000 arguments; report just its message
    const outcome = <R>(call: Promise<R>): Promise<R | string> =>
      call.catch((error: unknown) => (error instanceof Error ? `${error.name}: ${error.message}` : String(error)));
    expect.soft(await outcome(queue.refreshData(forged))).toEqual(new Set());
    expect.soft(await outcome(queue.doneData(forged))).toBe(0);
    expect.soft(await outcome(queue.releaseData(forged))).toEqual({ requeued: new Set(), exhausted: new Set() });
    expect.soft(await outcome(queue.failData(forged))).toEqual(new Set());
    expect(await ctx.snapshot()).toEqual(before);
  });
});
