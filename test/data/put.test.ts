import { describe, expect, it } from 'vitest';
import { DataQueue, VisqRangeError } from '../../src/index.js';
import { useStore } from '../harness/context.js';
import { useQueues } from '../harness/queues.js';

const ctx = useStore();
const open = useQueues(ctx);

/** Reads everything visible at-most-once, in delivery order. */
async function drain<T>(queue: DataQueue<T>): Promise<Map<string, T>> {
  const all = new Map<string, T>();
  for (;;) {
    const batch = await queue.getData(1000, { visTimeout: 0 });
    if (batch.size === 0) return all;
    for (const [id, item] of batch) all.set(id, item);
  }
}

describe('putData', () => {
  it('returns one id per item, in input order', async () => {
    const queue = open<string>();
    const ids = await queue.putData(['a', 'b', 'c']);
    expect(ids).toHaveLength(3);
    expect(new Set(ids).size).toBe(3);
    expect([...(await drain(queue))]).toEqual([
      [ids[0], 'a'],
      [ids[1], 'b'],
      [ids[2], 'c'],
    ]);
  });

  it('gives every item an id never used before in the queue', async () => {
    const queue = open<number>();
    const first = await queue.putData([1, 2]);
    await drain(queue);
    const second = await queue.putData([3, 4]);
    expect(new Set([...first, ...second]).size).toBe(4);
  });

  it('returns no ids and writes nothing for an empty array', async () => {
    const queue = open();
    expect(await queue.putData([])).toEqual([]);
    expect(await ctx.snapshot()).toEqual({});
  });

  const jsonValues: { label: string; value: unknown }[] = [
    { label: 'null', value: null },
    { label: 'true', value: true },
    { label: 'false', value: false },
    { label: 'zero', value: 0 },
    { label: 'a negative fraction', value: -1.5 },
    { label: 'the largest safe integer', value: Number.MAX_SAFE_INTEGER },
    { label: 'the largest double', value: Number.MAX_VALUE },
    { label: 'the smallest double', value: Number.MIN_VALUE },
    { label: 'an empty string', value: '' },
    { label: 'an empty array', value: [] },
    { label: 'an empty object', value: {} },
    { label: 'unicode text', value: 'héllo wörld — 队列 🚀 עברית' },
    { label: 'a lone surrogate', value: '\ud800' },
    { label: 'control characters and separators', value: 'a|b:c,d\n\t\u0000{x}' },
    { label: 'a string that looks like JSON', value: '{"a":1}' },
    { label: 'a nested object', value: { a: { b: [1, { c: null, d: 'x' }], e: [] }, '': 'empty key', 'ü|:': 2 } },
    { label: 'a nested array', value: [[[]], [1, [2, [3]]], { a: [] }] },
    { label: 'an object without a prototype', value: Object.assign(Object.create(null) as object, { a: 1 }) },
    { label: 'a long string', value: 'x'.repeat(100_000) },
  ];

  it.each(jsonValues)('round-trips $label unchanged', async ({ value }) => {
    const queue = open();
    const [id] = await queue.putData([value]);
    const items = await queue.getData(1);
    expect([...items.keys()]).toEqual([id]);
    expect(items.get(id as string)).toEqual(value);
  });

  it('round-trips many different values written in one call', async () => {
    const queue = open();
    const values = jsonValues.map(({ value }) => value);
    const ids = await queue.putData(values);
    const items = await drain(queue);
    expect([...items.keys()]).toEqual(ids);
    expect([...items.values()]).toEqual(values);
  });

  it('writes more than 1000 items in chunks and keeps them in order', async () => {
    const queue = open<number>();
    const values = Array.from({ length: 2500 }, (_, i) => i);
    const ids = await queue.putData(values);
    expect(ids).toHaveLength(2500);
    expect(new Set(ids).size).toBe(2500);
    expect((await queue.stats()).ready).toBe(2500);
    const items = await drain(queue);
    expect([...items.keys()]).toEqual(ids);
    expect([...items.values()]).toEqual(values);
  });

  describe('delay', () => {
    it.each([0, 30])('hides the items until the delay has passed (queue visTimeout %s)', async (visTimeout) => {
      ctx.freeze(Date.now());
      const queue = open<string>('q', { visTimeout, attempts: 2 });
      const [id] = await queue.putData(['later'], { delay: 10 });
      expect(await queue.stats()).toMatchObject({ ready: 0, delayed: 1 });
      expect((await queue.getData(1)).size).toBe(0);
      expect((await queue.peekData(1)).size).toBe(0);
      ctx.advance(9.9);
      expect((await queue.getData(1)).size).toBe(0);
      ctx.advance(0.1);
      const deliveries = await queue.getDeliveries(1);
      expect(deliveries.map((d) => [d.id, d.item, d.delivery])).toEqual([[id, 'later', 1]]);
    });

    it('lets items put without a delay be read meanwhile', async () => {
      const queue = open<string>();
      await queue.putData(['later'], { delay: 60 });
      await queue.putData(['now']);
      expect([...(await queue.getData(10)).values()]).toEqual(['now']);
    });

    it('treats a delay of 0 as none', async () => {
      const queue = open<string>();
      await queue.putData(['x'], { delay: 0 });
      expect([...(await queue.getData(1)).values()]).toEqual(['x']);
    });

    it('shows due items in put order among the items already visible', async () => {
      ctx.freeze(Date.now());
      const queue = open<string>();
      await queue.putData(['first'], { delay: 5 });
      await queue.putData(['second']);
      ctx.advance(5);
      expect([...(await queue.getData(10)).values()]).toEqual(['first', 'second']);
    });
  });

  describe('priority', () => {
    it('reads higher priority first and keeps put order within a priority', async () => {
      const queue = open<string>();
      await queue.putData(['low-1'], { priority: -5 });
      await queue.putData(['normal-1']);
      await queue.putData(['high-1', 'high-2'], { priority: 10 });
      await queue.putData(['normal-2'], { priority: 0 });
      await queue.putData(['top'], { priority: 1000 });
      await queue.putData(['high-3'], { priority: 10 });
      await queue.putData(['bottom'], { priority: -1000 });
      expect([...(await drain(queue)).values()]).toEqual([
        'top',
        'high-1',
        'high-2',
        'high-3',
        'normal-1',
        'normal-2',
        'low-1',
        'bottom',
      ]);
    });

    it('keeps the priority of a delayed item once it is due', async () => {
      ctx.freeze(Date.now());
      const queue = open<string>();
      await queue.putData(['normal']);
      await queue.putData(['urgent'], { priority: 1, delay: 5 });
      ctx.advance(5);
      expect([...(await drain(queue)).values()]).toEqual(['urgent', 'normal']);
    });
  });

  describe('ttl', () => {
    it('drops an item not read within ttl seconds and counts it as expired', async () => {
      ctx.freeze(Date.now());
      const queue = open<string>();
      await queue.putData(['short-lived'], { ttl: 5 });
      await queue.putData(['lasting']);
      ctx.advance(4.9);
      expect([...(await queue.peekData(10)).values()]).toEqual(['short-lived', 'lasting']);
      ctx.advance(0.1);
      expect(await queue.stats()).toMatchObject({ ready: 1, expired: 1 });
      expect([...(await queue.getData(10)).values()]).toEqual(['lasting']);
    });

    it('does not drop an item read before its ttl passed', async () => {
      ctx.freeze(Date.now());
      const queue = open<string>('q', { visTimeout: 30 });
      await queue.putData(['x'], { ttl: 5 });
      const leases = await queue.getData(1);
      ctx.advance(10);
      expect(await queue.doneData(leases)).toBe(1);
      expect(await queue.stats()).toMatchObject({ expired: 0 });
    });

    it('starts the ttl window when a delayed item becomes visible', async () => {
      ctx.freeze(Date.now());
      const queue = open<string>();
      await queue.putData(['x'], { delay: 10, ttl: 5 });
      ctx.advance(14.9);
      expect((await queue.peekData(1)).size).toBe(1);
      ctx.advance(0.1);
      expect((await queue.peekData(1)).size).toBe(0);
      expect(await queue.stats()).toMatchObject({ ready: 0, delayed: 0, expired: 1 });
    });

    it('starts the ttl window again when an unfinished delivery ends', async () => {
      ctx.freeze(Date.now());
      const queue = open<string>('q', { visTimeout: 10, attempts: 2 });
      await queue.putData(['x'], { ttl: 5 });
      await queue.getData(1);
      ctx.advance(14.9);
      expect((await queue.peekData(1)).size).toBe(1);
      ctx.advance(0.1);
      expect(await queue.stats()).toMatchObject({ ready: 0, inflight: 0, expired: 1 });
    });

    it('treats a ttl of 0 as no expiry', async () => {
      ctx.freeze(Date.now());
      const queue = open<string>();
      await queue.putData(['x'], { ttl: 0 });
      ctx.advance(1e6);
      expect([...(await queue.getData(1)).values()]).toEqual(['x']);
    });
  });

  describe('maxItemBytes', () => {
    it('accepts an item of exactly maxItemBytes bytes of JSON', async () => {
      const queue = open<string>('q', { maxItemBytes: 10 });
      // the JSON text "éééé" is 2 quote bytes plus 4 × 2 bytes of UTF-8
      await expect(queue.putData(['éééé'])).resolves.toHaveLength(1);
    });

    it('counts UTF-8 bytes, not characters, and rejects the whole call', async () => {
      const queue = open<string>('q', { maxItemBytes: 10 });
      const error = await queue.putData(['ok', 'ééééé']).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(VisqRangeError);
      expect((error as Error).message).toContain('`items[1]`');
      expect((error as Error).message).toContain('10 bytes');
      expect(await ctx.snapshot()).toEqual({});
    });

    it('defaults to 1 MiB', async () => {
      const queue = open<string>();
      expect(queue.settings.maxItemBytes).toBe(1024 * 1024);
      await expect(queue.putData(['x'.repeat(1024 * 1024 - 2)])).resolves.toHaveLength(1);
      await expect(queue.putData(['x'.repeat(1024 * 1024 - 1)])).rejects.toBeInstanceOf(RangeError);
    });
  });
});
