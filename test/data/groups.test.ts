/**
 * Ordered groups (docs/groups.md) on every store: put order per group, held groups,
 * head runs and many groups per read, round-robin, retries at the same head, onDead
 * skip/block with redrive, big batches, dq.groups(), bad input.
 */
import { describe, expect, it } from 'vitest';
import { DataQueue, VisqRangeError, VisqTypeError } from '../../src/index.js';
import { useStore } from '../harness/context.js';
import { useQueues } from '../harness/queues.js';

const ctx = useStore();
const open = useQueues(ctx);

interface Event {
  readonly g: string;
  readonly n: number;
}

const ev = (g: string, n: number): Event => ({ g, n });
const byGroup = { group: (e: Event) => e.g };

/** The items of a read, in order. */
async function read(queue: DataQueue<Event>, count: number, visTimeout?: number): Promise<{ leases: string[]; items: Event[] }> {
  const got = await queue.getData(count, visTimeout === undefined ? {} : { visTimeout });
  return { leases: [...got.keys()], items: [...got.values()] };
}

const names = (items: readonly Event[]): string[] => items.map((e) => `${e.g}${e.n}`);

describe('ordered groups', () => {
  it('delivers the items of a group in put order, one head run at a time', async () => {
    ctx.freeze(Date.now());
    const queue = open<Event>('q', { visTimeout: 30 });
    await queue.putData([ev('a', 1), ev('a', 2), ev('a', 3)], byGroup);
    await queue.putData([ev('a', 4)], { group: 'a' });
    const first = await read(queue, 2);
    expect(names(first.items)).toEqual(['a1', 'a2']);
    // the group is held: nobody gets a3 while a1 and a2 are out
    expect((await read(queue, 10)).items).toEqual([]);
    expect(await queue.doneData(first.leases.slice(0, 1))).toBe(1);
    expect((await read(queue, 10)).items).toEqual([]);
    expect(await queue.doneData(first.leases.slice(1))).toBe(1);
    const second = await read(queue, 10);
    expect(names(second.items)).toEqual(['a3', 'a4']);
    await queue.doneData(second.leases);
    expect(await queue.stats()).toMatchObject({ ready: 0, inflight: 0 });
  });

  it('does not serve a held group to a second reader', async () => {
    ctx.freeze(Date.now());
    const queue = open<Event>('q', { visTimeout: 30 });
    const other = new DataQueue<Event>(ctx.elsewhere(), 'q', { prefix: ctx.prefix, visTimeout: 30 });
    try {
      await queue.putData([ev('a', 1), ev('a', 2), ev('b', 1)], byGroup);
      const mine = await read(queue, 1);
      expect(names(mine.items)).toEqual(['a1']);
      const theirs = await read(other, 10);
      expect(names(theirs.items)).toEqual(['b1']);
      expect((await read(other, 10)).items).toEqual([]);
    } finally {
      await other.close();
    }
  });

  it('takes head runs of many groups in one read, and items without a group first', async () => {
    ctx.freeze(Date.now());
    const queue = open<Event>('q', { visTimeout: 30 });
    await queue.putData([ev('a', 1), ev('b', 1), ev('a', 2), ev('c', 1), ev('b', 2), ev('a', 3)], byGroup);
    await queue.putData([ev('-', 1)]);
    const got = await read(queue, 100);
    // plain items first, then the ready groups in the order they became ready, each its whole head run
    expect(names(got.items)).toEqual(['-1', 'a1', 'a2', 'a3', 'b1', 'b2', 'c1']);
    expect(await queue.doneData(got.leases)).toBe(7);
    expect(await queue.stats()).toMatchObject({ ready: 0, inflight: 0 });
  });

  it('serves ready groups round-robin, so a hot group cannot starve the others', async () => {
    ctx.freeze(Date.now());
    const queue = open<Event>('q', { visTimeout: 30 });
    await queue.putData(
      Array.from({ length: 50 }, (_, i) => ev('hot', i)),
      byGroup,
    );
    await queue.putData([ev('x', 0), ev('y', 0)], byGroup);
    // the hot group's head run fills a read, then it is held: x and y come next
    const first = await read(queue, 5);
    expect(names(first.items)).toEqual(['hot0', 'hot1', 'hot2', 'hot3', 'hot4']);
    const second = await read(queue, 5);
    expect(names(second.items)).toEqual(['x0', 'y0']);
    await queue.doneData(first.leases);
    // done puts the group at the end of the round-robin again
    expect(names((await read(queue, 2)).items)).toEqual(['hot5', 'hot6']);
  });

  it('reopens a group at the same head when a lease expires, keeping order across retries', async () => {
    ctx.freeze(Date.now());
    const queue = open<Event>('q', { visTimeout: 10, attempts: 3 });
    await queue.putData([ev('a', 1), ev('a', 2), ev('b', 1)], byGroup);
    const first = await queue.getDeliveries(1);
    expect(first.map((d) => [d.item.n, d.delivery])).toEqual([[1, 1]]);
    ctx.advance(10);
    const again = await queue.getDeliveries(1);
    // a1 again, second delivery, ahead of everything behind it in its group
    expect(again.map((d) => [d.item.g, d.item.n, d.delivery])).toEqual([['b', 1, 1]]);
    const retry = await queue.getDeliveries(1);
    expect(retry.map((d) => [d.item.g, d.item.n, d.delivery])).toEqual([['a', 1, 2]]);
    // the first lease is stale: it finishes nothing
    expect(await queue.doneData([first[0]?.lease as string])).toBe(0);
    expect(await queue.doneData([retry[0]?.lease as string])).toBe(1);
    expect((await queue.getDeliveries(5)).map((d) => [d.item.g, d.item.n])).toEqual([['a', 2]]);
  });

  it('keeps order when a released lease is retried, with or without a delay', async () => {
    ctx.freeze(Date.now());
    const queue = open<Event>('q', { visTimeout: 10, attempts: 5 });
    await queue.putData([ev('a', 1), ev('a', 2)], byGroup);
    let got = await read(queue, 1);
    await queue.releaseData(got.leases, { delay: 5 });
    // the group stays held while its head waits out the release delay
    expect((await read(queue, 5)).items).toEqual([]);
    ctx.advance(5);
    got = await read(queue, 5);
    expect(names(got.items)).toEqual(['a1', 'a2']);
    await queue.releaseData(got.leases, { countDelivery: false });
    expect(names((await read(queue, 5)).items)).toEqual(['a1', 'a2']);
  });

  it("moves on past a dead-lettered head with onDead 'skip' (the default)", async () => {
    ctx.freeze(Date.now());
    const queue = open<Event>('q', { visTimeout: 10, useDead: true });
    await queue.putData([ev('a', 1), ev('a', 2)], byGroup);
    await read(queue, 1);
    ctx.advance(10);
    expect(names((await read(queue, 5)).items)).toEqual(['a2']);
    expect(await queue.stats()).toMatchObject({ dead: 1 });
  });

  it("blocks a group with a dead-lettered head until redrive with onDead 'block'", async () => {
    ctx.freeze(Date.now());
    const queue = open<Event>('q', { visTimeout: 10, useDead: true, groups: { onDead: 'block' } });
    await queue.putData([ev('a', 1), ev('a', 2), ev('a', 3), ev('b', 1)], byGroup);
    const got = await read(queue, 1);
    expect(names(got.items)).toEqual(['a1']);
    await queue.failData(got.leases);
    expect(names((await read(queue, 5)).items)).toEqual(['b1']);
    expect((await read(queue, 5)).items).toEqual([]);
    const listed = await queue.groups();
    expect(listed.find((g) => g.group === 'a')).toMatchObject({ state: 'blocked', depth: 2, inflight: 0 });
    expect(await queue.redrive()).toBe(1);
    // back at the head of its group, with fresh attempts
    const after = await queue.getDeliveries(5);
    expect(after.map((d) => [d.item.g, d.item.n, d.delivery])).toEqual([
      ['a', 1, 1],
      ['a', 2, 1],
      ['a', 3, 1],
    ]);
  });

  it('unblocks a blocked group without redrive on request, and a later redrive still brings its head back', async () => {
    ctx.freeze(Date.now());
    const queue = open<Event>('q', { visTimeout: 10, useDead: true, groups: { onDead: 'block' } });
    await queue.putData([ev('a', 1), ev('a', 2), ev('a', 3)], byGroup);
    await queue.failData((await read(queue, 1)).leases);
    expect((await read(queue, 5)).items).toEqual([]);
    expect(await queue.unblockGroups(['a', 'b', 'a'])).toBe(1);
    expect(await queue.unblockGroups(['a'])).toBe(0);
    const got = await read(queue, 1);
    expect(names(got.items)).toEqual(['a2']);
    await queue.doneData(got.leases);
    expect(await queue.redrive()).toBe(1);
    expect(names((await read(queue, 5)).items)).toEqual(['a1', 'a3']);
    await expect(queue.unblockGroups([''])).rejects.toThrow(VisqRangeError);
    await expect(queue.unblockGroups('a' as unknown as string[])).rejects.toThrow(VisqTypeError);
  });

  it('refuses onDead block without useDead', () => {
    expect(() => open('q', { visTimeout: 10, groups: { onDead: 'block' } })).toThrow(VisqRangeError);
    expect(() => open('q', { groups: { onDead: 'later' as 'skip' } })).toThrow(VisqRangeError);
    expect(() => open('q', { groups: { onDead: 1 as unknown as 'skip' } })).toThrow(VisqTypeError);
  });

  it('joins delayed items to their group when they come due', async () => {
    ctx.freeze(Date.now());
    const queue = open<Event>('q', { visTimeout: 10 });
    await queue.putData([ev('a', 1)], { group: 'a', delay: 5 });
    await queue.putData([ev('a', 2)], { group: 'a' });
    expect(await queue.stats()).toMatchObject({ ready: 1, delayed: 1 });
    ctx.advance(5);
    // a1 joined at its put-order place, ahead of a2
    expect(names((await read(queue, 5)).items)).toEqual(['a1', 'a2']);
  });

  it('reads at most once without holding the group (visTimeout 0)', async () => {
    ctx.freeze(Date.now());
    const queue = open<Event>('q');
    await queue.putData([ev('a', 1), ev('a', 2), ev('a', 3), ev('b', 1)], byGroup);
    expect(names((await read(queue, 2)).items)).toEqual(['a1', 'a2']);
    expect(names((await read(queue, 2)).items)).toEqual(['b1', 'a3']);
    expect(await queue.stats()).toMatchObject({ ready: 0, inflight: 0 });
  });

  it('puts and reads 1000-item batches over many groups', async () => {
    ctx.freeze(Date.now());
    const queue = open<Event>('q', { visTimeout: 30 });
    const items = Array.from({ length: 2500 }, (_, i) => ev(`g${i % 100}`, Math.floor(i / 100)));
    const ids = await queue.putData(items, byGroup);
    expect(ids).toHaveLength(2500);
    expect(await queue.stats()).toMatchObject({ ready: 2500 });
    const seen = new Map<string, number[]>();
    for (;;) {
      const got = await read(queue, 1000);
      if (got.items.length === 0) break;
      for (const e of got.items) seen.set(e.g, [...(seen.get(e.g) ?? []), e.n]);
      expect(await queue.doneData(got.leases)).toBe(got.items.length);
    }
    expect(seen.size).toBe(100);
    for (const ns of seen.values()) expect(ns).toEqual(Array.from({ length: 25 }, (_, i) => i));
  });

  it('lists groups with depth, in-flight count and age of the oldest, busiest first', async () => {
    ctx.freeze(Date.now());
    const queue = open<Event>('q', { visTimeout: 30 });
    await queue.putData([ev('a', 1), ev('a', 2), ev('a', 3)], byGroup);
    ctx.advance(2);
    await queue.putData([ev('b', 1)], byGroup);
    // the head of the next ready group
    expect((await queue.stats()).headAge).toBe(2);
    await read(queue, 1);
    expect((await queue.stats()).headAge).toBe(0);
    const listed = await queue.groups();
    expect(listed).toEqual([
      { group: 'a', state: 'held', depth: 2, inflight: 1, oldestAge: 2 },
      { group: 'b', state: 'ready', depth: 1, inflight: 0, oldestAge: 0 },
    ]);
    expect(await queue.groups({ limit: 1 })).toHaveLength(1);
    await expect(queue.groups({ limit: 0 })).rejects.toThrow(VisqRangeError);
    expect(await queue.peekData(5)).toSatisfy((m: Map<string, Event>) => names([...m.values()]).join() === 'b1');
  });

  it('refuses bad groups, and priority or ttl with a group, writing nothing', async () => {
    const queue = open<Event>('q', { visTimeout: 30 });
    const before = await ctx.snapshot();
    await expect(queue.putData([ev('a', 1)], { group: '' })).rejects.toThrow(VisqRangeError);
    await expect(queue.putData([ev('a', 1)], { group: 'x'.repeat(513) })).rejects.toThrow(VisqRangeError);
    await expect(queue.putData([ev('a', 1)], { group: 'a\0b' })).rejects.toThrow(VisqRangeError);
    await expect(queue.putData([ev('a', 1)], { group: 5 as unknown as string })).rejects.toThrow(VisqTypeError);
    await expect(
      queue.putData([ev('a', 1), ev('b', 2)], { group: (e) => (e.n === 2 ? (7 as unknown as string) : e.g) }),
    ).rejects.toThrow(/opts\.group\(items\[1\]\)/);
    await expect(queue.putData([ev('a', 1)], { group: 'a', priority: 1 })).rejects.toThrow(/opts\.priority/);
    await expect(queue.putData([ev('a', 1)], { group: 'a', ttl: 5 })).rejects.toThrow(/opts\.ttl/);
    await expect(queue.dead.putData([ev('a', 1)], { group: 'a' })).rejects.toThrow(VisqRangeError);
    expect(await ctx.snapshot()).toEqual(before);
  });

  it('accepts a group of 512 characters', async () => {
    const queue = open<Event>('q', { visTimeout: 30 });
    const long = 'é'.repeat(512);
    await queue.putData([ev(long, 1)], byGroup);
    expect((await queue.groups())[0]?.group).toBe(long);
    expect((await read(queue, 1)).items).toEqual([ev(long, 1)]);
  });

  it('clears the groups with the queue', async () => {
    const queue = open<Event>('q', { visTimeout: 30 });
    await queue.putData([ev('a', 1), ev('a', 2)], byGroup);
    await read(queue, 1);
    await queue.clear();
    expect(await queue.groups()).toEqual([]);
    await queue.putData([ev('a', 3)], byGroup);
    expect(names((await read(queue, 5)).items)).toEqual(['a3']);
  });

  it('wakes a blocked reader when done releases a group with items waiting', async () => {
    const queue = open<Event>('q', { visTimeout: 30 });
    await queue.putData([ev('a', 1), ev('a', 2)], byGroup);
    const first = await read(queue, 1);
    const waiting = queue.getData(1, { wait: 5 });
    await queue.doneData(first.leases);
    expect(names([...(await waiting).values()])).toEqual(['a2']);
  });
});

describe('ordered groups: inspect', () => {
  it('finds an item waiting in its group, and one in flight', async () => {
    const queue = open<Event>('q', { visTimeout: 30 });
    const [first, second] = await queue.putData([ev('a', 1), ev('a', 2)], byGroup);
    await queue.getData(1);
    expect(await queue.inspect(second as string)).toMatchObject({ id: second, state: 'ready', item: ev('a', 2) });
    expect(await queue.inspect(first as string)).toMatchObject({ id: first, state: 'inflight', item: ev('a', 1) });
  });
});

describe('ordered groups: leases', () => {
  it('keeps a group held across a partial refresh, and releases it when the refreshed lease is done or expires', async () => {
    ctx.freeze(Date.now());
    const queue = open<Event>('q', { visTimeout: 10, attempts: 3 });
    await queue.putData([ev('a', 1), ev('a', 2), ev('a', 3), ev('b', 1)], byGroup);
    const got = await read(queue, 2);
    expect(names(got.items)).toEqual(['a1', 'a2']);
    // only a2's lease is extended: it moves to an entry of its own
    expect(await queue.refreshData([got.leases[1] as string], { visTimeout: 60 })).toEqual(new Set([got.leases[1]]));
    expect(await queue.doneData([got.leases[0] as string])).toBe(1);
    // a2 is still out: the group stays held
    const b = await read(queue, 5);
    expect(names(b.items)).toEqual(['b1']);
    await queue.doneData(b.leases);
    ctx.advance(30);
    expect((await read(queue, 5)).items).toEqual([]);
    ctx.advance(30);
    // the refreshed lease expired: a2 back at the head, before a3
    const again = await queue.getDeliveries(5);
    expect(again.map((d) => [d.item.g, d.item.n, d.delivery])).toEqual([
      ['a', 2, 2],
      ['a', 3, 1],
    ]);
    expect(await queue.doneData(again.map((d) => d.lease))).toBe(2);
    expect(await queue.groups()).toEqual([]);
  });

  it('finishes plain and grouped items in one done, and counts a stale lease of a group once', async () => {
    ctx.freeze(Date.now());
    const queue = open<Event>('q', { visTimeout: 10 });
    await queue.putData([ev('-', 1), ev('-', 2)]);
    await queue.putData([ev('a', 1), ev('a', 2), ev('b', 1)], byGroup);
    const got = await read(queue, 4);
    expect(names(got.items)).toEqual(['-1', '-2', 'a1', 'a2']);
    const [p1, , a1] = got.leases as [string, string, string, string];
    expect(await queue.doneData([p1, a1, a1])).toBe(2);
    expect(await queue.doneData([a1])).toBe(0);
    // a2 is still out
    expect(names((await read(queue, 5)).items)).toEqual(['b1']);
    expect(await queue.doneData(got.leases)).toBe(2);
    expect(await queue.groups()).toEqual([{ group: 'b', state: 'held', depth: 0, inflight: 1, oldestAge: 0 }]);
  });

  it('reads a head run of 1000 from one group', async () => {
    const queue = open<Event>('q', { visTimeout: 30 });
    await queue.putData(
      Array.from({ length: 1500 }, (_, i) => ev('a', i)),
      { group: 'a' },
    );
    const got = await read(queue, 1000);
    expect(got.items.map((e) => e.n)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    expect((await read(queue, 1000)).items).toEqual([]);
    expect(await queue.doneData(got.leases)).toBe(1000);
    expect((await read(queue, 1000)).items.map((e) => e.n)).toEqual(Array.from({ length: 500 }, (_, i) => 1000 + i));
  });
});

describe('ordered groups under read limits', () => {
  it('spends the rate limit on grouped items, and the cap cuts a head run', async () => {
    ctx.freeze(1_800_000_000_000);
    const queue = open<number>('limited', { visTimeout: 30, rateLimit: { perSecond: 100, burst: 2 }, maxInflight: 3 });
    await queue.putData([0, 1, 2, 3, 4, 5], { group: (n) => `g${n % 3}` });
    // two tokens: the head run of the first group, two items
    const first = await queue.getDeliveries(10);
    expect(first.map((d) => d.item)).toEqual([0, 3]);
    expect(await queue.getDeliveries(10)).toEqual([]);
    // tokens again, but one slot left under the cap: the next group's head only
    ctx.advance(1);
    expect((await queue.getDeliveries(10)).map((d) => d.item)).toEqual([1]);
    ctx.advance(1);
    expect(await queue.getDeliveries(10)).toEqual([]);
    // a done frees a slot; its group is still held by the rest of its run, so the slot
    // goes to the free group
    await queue.doneData([first[0]!.lease]);
    expect((await queue.getDeliveries(10)).map((d) => d.item)).toEqual([2]);
  });
});

describe('ordered groups under concurrent readers', () => {
  it('never hands a group to two readers at once, and keeps put order per group', async () => {
    const queue = open<Event>('q', { visTimeout: 60 });
    const other = new DataQueue<Event>(ctx.elsewhere(), 'q', { prefix: ctx.prefix, visTimeout: 60 });
    try {
      const total = 300;
      const groups = ['a', 'b', 'c', 'd', 'e'];
      await queue.putData(
        Array.from({ length: total }, (_, i) => ev(groups[i % groups.length] as string, i)),
        byGroup,
      );
      // the group each batch in hand holds; freed here before its done is sent, so a read
      // that returns a group still in hand means the store gave it to two readers
      const inHand = new Set<string>();
      const clashes: string[] = [];
      const seen = new Map<string, number[]>();
      let done = 0;
      const reader = async (q: DataQueue<Event>, count: number): Promise<void> => {
        let idle = 0;
        while (done < total && idle < 2000) {
          const got = await q.getData(count);
          if (got.size === 0) {
            idle += 1;
            await new Promise((resolve) => setTimeout(resolve, 1));
            continue;
          }
          idle = 0;
          const batchGroups = new Set([...got.values()].map((e) => e.g));
          for (const g of batchGroups) {
            if (inHand.has(g)) clashes.push(g);
            inHand.add(g);
          }
          for (const e of got.values()) seen.set(e.g, [...(seen.get(e.g) ?? []), e.n]);
          // let the other readers run while this batch is in hand
          await new Promise((resolve) => setTimeout(resolve, 0));
          for (const g of batchGroups) inHand.delete(g);
          const finished = await q.doneData([...got.keys()]);
          done += finished;
        }
      };
      // reads of different sizes: one reader's head run is a prefix of another's
      await Promise.all([reader(queue, 1), reader(queue, 3), reader(other, 2), reader(other, 4)]);
      expect(clashes).toEqual([]);
      expect(done).toBe(total);
      for (const g of groups) {
        const order = seen.get(g) ?? [];
        expect(order).toEqual([...order].sort((x, y) => x - y));
        expect(order).toHaveLength(total / groups.length);
      }
      expect(await queue.stats()).toMatchObject({ ready: 0, inflight: 0 });
    } finally {
      await other.close();
    }
  });
});

describe('ordered groups: counts', () => {
  it('counts a read that delivers only grouped items as a delivery, not an empty read', async () => {
    ctx.freeze(Date.now());
    const queue = open<Event>('q', { visTimeout: 30 });
    await queue.putData([ev('a', 1), ev('a', 2), ev('b', 1)], byGroup);
    const got = await read(queue, 10);
    expect(names(got.items)).toEqual(['a1', 'a2', 'b1']);
    expect(await queue.stats()).toMatchObject({ deliveries: 3, emptyReads: 0, inflight: 3, ready: 0 });
    // every group is held: this read is empty
    expect((await read(queue, 10)).items).toEqual([]);
    expect(await queue.stats()).toMatchObject({ deliveries: 3, emptyReads: 1 });
  });
});
