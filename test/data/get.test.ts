import { describe, expect, it } from 'vitest';
import { DataQueue } from '../../src/index.js';
import { useStore } from '../harness/context.js';
import { useQueues } from '../harness/queues.js';

const ctx = useStore();
const open = useQueues(ctx);

describe('getData', () => {
  it('returns an empty Map from an empty queue', async () => {
    const queue = open();
    const items = await queue.getData(10);
    expect(items).toBeInstanceOf(Map);
    expect(items.size).toBe(0);
  });

  it('reads one item when no count is given', async () => {
    const queue = open<number>();
    await queue.putData([1, 2]);
    expect([...(await queue.getData()).values()]).toEqual([1]);
  });

  it('returns at most `count` items', async () => {
    const queue = open<number>();
    await queue.putData([1, 2, 3, 4, 5]);
    expect([...(await queue.getData(3)).values()]).toEqual([1, 2, 3]);
    expect([...(await queue.getData(3)).values()]).toEqual([4, 5]);
    expect((await queue.getData(3)).size).toBe(0);
  });

  it('reads up to 1000 items at once', async () => {
    const queue = open<number>();
    await queue.putData(Array.from({ length: 1001 }, (_, i) => i));
    expect((await queue.getData(1000)).size).toBe(1000);
    expect([...(await queue.getData(1000)).values()]).toEqual([1000]);
  });

  it('reads oldest first', async () => {
    const queue = open<string>();
    await queue.putData(['a', 'b']);
    await queue.putData(['c']);
    const order: string[] = [];
    for (let i = 0; i < 3; i += 1) order.push(...(await queue.getData(1)).values());
    expect(order).toEqual(['a', 'b', 'c']);
  });

  it('reads higher priority first, then oldest', async () => {
    const queue = open<string>();
    await queue.putData(['n1']);
    await queue.putData(['h1'], { priority: 3 });
    await queue.putData(['l1'], { priority: -3 });
    await queue.putData(['n2']);
    await queue.putData(['h2'], { priority: 3 });
    expect([...(await queue.getData(2)).values()]).toEqual(['h1', 'h2']);
    expect([...(await queue.getData(3)).values()]).toEqual(['n1', 'n2', 'l1']);
  });

  describe('at-most-once (visTimeout 0)', () => {
    it('removes the items as they are read, keyed by item id', async () => {
      const queue = open<string>();
      const ids = await queue.putData(['a', 'b']);
      const items = await queue.getData(2);
      expect([...items.keys()]).toEqual(ids);
      expect(await queue.stats()).toMatchObject({ ready: 0, inflight: 0, delayed: 0 });
    });

    it('never delivers an item twice, however much time passes', async () => {
      const queue = open<string>('q', { attempts: 5 });
      await queue.putData(['once']);
      expect((await queue.getData(1)).size).toBe(1);
      ctx.advance(3600);
      expect((await queue.getData(1)).size).toBe(0);
    });

    it('needs no done: the ids are not leases', async () => {
      const queue = open<string>();
      await queue.putData(['x']);
      const items = await queue.getData(1);
      expect(await queue.doneData(items)).toBe(0);
    });

    it('reads at-most-once when the read says visTimeout 0 on a queue with a default', async () => {
      const queue = open<string>('q', { visTimeout: 30, attempts: 3 });
      const [id] = await queue.putData(['x']);
      const items = await queue.getData(1, { visTimeout: 0 });
      expect([...items.keys()]).toEqual([id]);
      ctx.advance(60);
      expect((await queue.getData(1)).size).toBe(0);
      expect(await queue.stats()).toMatchObject({ ready: 0, inflight: 0 });
    });
  });

  describe('with a visibility timeout', () => {
    it('hides each item read for visTimeout seconds instead of removing it', async () => {
      ctx.freeze(Date.now());
      const queue = open<string>('q', { visTimeout: 10, attempts: 2 });
      await queue.putData(['x']);
      expect((await queue.getData(1)).size).toBe(1);
      expect(await queue.stats()).toMatchObject({ ready: 0, inflight: 1 });
      ctx.advance(9.999);
      expect((await queue.getData(1)).size).toBe(0);
    });

    it('redelivers an item after its lease expires, under a new lease', async () => {
      ctx.freeze(Date.now());
      const queue = open<string>('q', { visTimeout: 10, attempts: 2 });
      const [id] = await queue.putData(['x']);
      const first = await queue.getData(1);
      ctx.advance(10);
      const second = await queue.getData(1);
      expect([...second.values()]).toEqual(['x']);
      const [firstLease] = first.keys();
      const [secondLease] = second.keys();
      expect(secondLease).not.toBe(firstLease);
      expect(DataQueue.itemId(secondLease as string)).toBe(id);
    });

    it('redelivers an expired item in its put order, before items put after it', async () => {
      ctx.freeze(Date.now());
      const queue = open<string>('q', { visTimeout: 10, attempts: 2 });
      await queue.putData(['a']);
      await queue.getData(1);
      await queue.putData(['b']);
      ctx.advance(10);
      expect([...(await queue.getData(2)).values()]).toEqual(['a', 'b']);
    });

    it('uses the per-read visTimeout instead of the queue default', async () => {
      ctx.freeze(Date.now());
      const queue = open<string>('q', { visTimeout: 10, attempts: 2 });
      await queue.putData(['x']);
      await queue.getData(1, { visTimeout: 100 });
      ctx.advance(99);
      expect((await queue.getData(1)).size).toBe(0);
      ctx.advance(1);
      expect((await queue.getData(1)).size).toBe(1);
    });

    it('leases an item on a queue without a default when the read gives a visTimeout', async () => {
      ctx.freeze(Date.now());
      const queue = open<string>('q', { attempts: 2 });
      await queue.putData(['x']);
      const held = await queue.getData(1, { visTimeout: 5 });
      expect(await queue.stats()).toMatchObject({ inflight: 1 });
      ctx.advance(5);
      expect([...(await queue.getData(1)).values()]).toEqual(['x']);
      expect(await queue.doneData(held)).toBe(0);
    });

    it('accepts fractions of a second', async () => {
      ctx.freeze(Date.now());
      const queue = open<string>('q', { visTimeout: 0.25, attempts: 2 });
      await queue.putData(['x']);
      await queue.getData(1);
      ctx.advance(0.249);
      expect((await queue.getData(1)).size).toBe(0);
      ctx.advance(0.001);
      expect((await queue.getData(1)).size).toBe(1);
    });
  });

  describe('leases', () => {
    it('keys the Map by one distinct lease per item', async () => {
      const queue = open<string>('q', { visTimeout: 30 });
      const ids = await queue.putData(['a', 'b', 'c']);
      const items = await queue.getData(3);
      const leases = [...items.keys()];
      expect(new Set(leases).size).toBe(3);
      for (const lease of leases) {
        expect(typeof lease).toBe('string');
        expect(ids).not.toContain(lease);
      }
      expect(leases.map((lease) => DataQueue.itemId(lease))).toEqual(ids);
    });

    it('names one delivery: every delivery of an item has its own lease', async () => {
      ctx.freeze(Date.now());
      const queue = open<string>('q', { visTimeout: 1, attempts: 3 });
      const [id] = await queue.putData(['x']);
      const leases: string[] = [];
      for (let i = 0; i < 3; i += 1) {
        leases.push(...(await queue.getData(1)).keys());
        ctx.advance(1);
      }
      expect(new Set(leases).size).toBe(3);
      expect(leases.map((lease) => DataQueue.itemId(lease))).toEqual([id, id, id]);
    });

    it('returns an id unchanged from DataQueue.itemId', async () => {
      const queue = open<string>();
      const [id] = await queue.putData(['x']);
      expect(DataQueue.itemId(id as string)).toBe(id);
    });
  });
});

describe('getDeliveries', () => {
  it('gives each item with its lease, id and delivery number', async () => {
    const queue = open<{ n: number }>('q', { visTimeout: 30 });
    const ids = await queue.putData([{ n: 1 }, { n: 2 }]);
    const deliveries = await queue.getDeliveries(2);
    expect(deliveries).toHaveLength(2);
    deliveries.forEach((delivery, i) => {
      expect(delivery).toEqual({ lease: expect.any(String), id: ids[i], delivery: 1, item: { n: i + 1 } });
      expect(DataQueue.itemId(delivery.lease)).toBe(ids[i]);
    });
  });

  it('counts deliveries up by one with each redelivery', async () => {
    ctx.freeze(Date.now());
    const queue = open<string>('q', { visTimeout: 5, attempts: 4 });
    await queue.putData(['x']);
    const numbers: number[] = [];
    for (let i = 0; i < 4; i += 1) {
      numbers.push(...(await queue.getDeliveries(1)).map((d) => d.delivery));
      ctx.advance(5);
    }
    expect(numbers).toEqual([1, 2, 3, 4]);
  });

  it('uses the id as lease for an at-most-once read', async () => {
    const queue = open<string>();
    const [id] = await queue.putData(['x']);
    expect(await queue.getDeliveries(1)).toEqual([{ lease: id, id, delivery: 1, item: 'x' }]);
  });

  it('returns the same items as getData would, in order', async () => {
    const queue = open<number>('q', { visTimeout: 30 });
    await queue.putData([3], { priority: -1 });
    await queue.putData([1, 2]);
    expect((await queue.getDeliveries(5)).map((d) => d.item)).toEqual([1, 2, 3]);
  });

  it('returns an empty array from an empty queue', async () => {
    expect(await open().getDeliveries(5)).toEqual([]);
  });
});
