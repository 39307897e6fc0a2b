/**
 * Deduplicated puts (docs/dedupe.md) on every store: window and until-done semantics
 * under a frozen clock, collapse inside one call, holder ids, big batches, bad input, and
 * dq.dedupe.get / clear.
 */
import { createHash } from 'node:crypto';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { DataQueue, VisqRangeError, VisqTypeError, type PutResult } from '../../src/index.js';
import { useStore } from '../harness/context.js';
import { useQueues } from '../harness/queues.js';

const ctx = useStore();
const open = useQueues(ctx);
const T0 = 1_700_000_000_000;

interface Order {
  readonly orderId: string;
  readonly n?: number;
}

const byOrder = (item: Order): string => item.orderId;

/** The ids of the items put (not duplicates). */
function fresh(results: readonly PutResult[]): string[] {
  return results.filter((r) => !r.duplicate).map((r) => r.id);
}

describe('putData with dedupe, until: window', () => {
  it('puts a new key, and answers a later put with it as a duplicate carrying the holder id', async () => {
    ctx.freeze(T0);
    const queue = open<Order>();
    const [first] = await queue.putData([{ orderId: 'a' }], { dedupe: { key: byOrder, window: 300 } });
    expect(first).toEqual({ id: expect.any(String), duplicate: false });
    const again = await queue.putData([{ orderId: 'a', n: 2 }, { orderId: 'b' }], { dedupe: { key: byOrder, window: 300 } });
    expect(again[0]).toEqual({ id: first?.id, duplicate: true });
    expect(again[1]?.duplicate).toBe(false);
    expect(await queue.stats()).toMatchObject({ ready: 2 });
    expect((await queue.stats()).puts).toBe(2);
  });

  it('keeps the key after the item is done, until the window ends, then admits it again', async () => {
    ctx.freeze(T0);
    const queue = open<Order>('q', { visTimeout: 30 });
    const dedupe = { key: byOrder, window: 10 };
    const [held] = await queue.putData([{ orderId: 'a' }], { dedupe });
    const leases = await queue.getData(1);
    expect(await queue.doneData(leases)).toBe(1);
    ctx.freeze(T0 + 9_999);
    expect(await queue.putData([{ orderId: 'a' }], { dedupe })).toEqual([{ id: held?.id, duplicate: true }]);
    ctx.freeze(T0 + 10_000);
    const [next] = await queue.putData([{ orderId: 'a' }], { dedupe });
    expect(next?.duplicate).toBe(false);
    expect(next?.id).not.toBe(held?.id);
  });

  it('collapses repeated keys inside one call to the first', async () => {
    ctx.freeze(T0);
    const queue = open<Order>();
    const results = await queue.putData(
      [{ orderId: 'a', n: 1 }, { orderId: 'b' }, { orderId: 'a', n: 2 }, { orderId: 'b' }, { orderId: 'c' }],
      { dedupe: { key: byOrder, window: 60 } },
    );
    expect(results.map((r) => r.duplicate)).toEqual([false, false, true, true, false]);
    expect(results[2]?.id).toBe(results[0]?.id);
    expect(results[3]?.id).toBe(results[1]?.id);
    const items = await queue.getData(10, { visTimeout: 0 });
    expect([...items.values()]).toEqual([{ orderId: 'a', n: 1 }, { orderId: 'b' }, { orderId: 'c' }]);
  });

  it("dedupes equal payloads with key: 'content'", async () => {
    ctx.freeze(T0);
    const queue = open<{ x: number }>();
    const results = await queue.putData([{ x: 1 }, { x: 2 }, { x: 1 }], { dedupe: { key: 'content', window: 60 } });
    expect(results.map((r) => r.duplicate)).toEqual([false, false, true]);
    const later = await queue.putData([{ x: 2 }], { dedupe: { key: 'content', window: 60 } });
    expect(later).toEqual([{ id: results[1]?.id, duplicate: true }]);
    const key = `sha256:${createHash('sha256').update(JSON.stringify({ x: 1 })).digest('hex')}`;
    expect(await queue.dedupe.get(key)).toEqual({ id: results[0]?.id, expiresAt: new Date(T0 + 60_000), until: 'window' });
  });

  it('takes a fixed string key: all but the first item of the call are duplicates', async () => {
    ctx.freeze(T0);
    const queue = open<number>();
    const results = await queue.putData([1, 2, 3], { dedupe: { key: 'once', window: 5 } });
    expect(results.map((r) => r.duplicate)).toEqual([false, true, true]);
    expect(new Set(results.map((r) => r.id)).size).toBe(1);
  });

  it('handles a 1000-item batch in one step, and a 2500-item call across steps', async () => {
    ctx.freeze(T0);
    const queue = open<Order>();
    const items = Array.from({ length: 1000 }, (_, i) => ({ orderId: `o${i}` }));
    const first = await queue.putData(items, { dedupe: { key: byOrder, window: 60 } });
    expect(fresh(first)).toHaveLength(1000);
    const mixed = Array.from({ length: 2500 }, (_, i) => ({ orderId: `o${i % 1500}` }));
    const second = await queue.putData(mixed, { dedupe: { key: byOrder, window: 60 } });
    expect(fresh(second)).toHaveLength(500);
    for (let i = 0; i < 2500; i += 1) {
      const j = i % 1500;
      const expected = j < 1000 ? first[j]?.id : second[j]?.id;
      expect(second[i]?.id).toBe(expected);
    }
    expect(await queue.stats()).toMatchObject({ ready: 1500 });
  });

  it('admits a key once under concurrent puts from many connections', async () => {
    const queues = Array.from({ length: 8 }, (_, i) => open<Order>('q', {}, i % 2 === 0 ? ctx.store : ctx.elsewhere()));
    const until = ['window', 'done'] as const;
    for (const mode of until) {
      const results = await Promise.all(
        queues.map((queue, i) => queue.putData([{ orderId: `race-${mode}`, n: i }], { dedupe: { key: byOrder, window: 60, until: mode } })),
      );
      const flat = results.flat();
      expect(flat.filter((r) => !r.duplicate)).toHaveLength(1);
      expect(new Set(flat.map((r) => r.id)).size).toBe(1);
    }
    expect(await (queues[0] as DataQueue<Order>).stats()).toMatchObject({ ready: 2 });
  });

  it('keeps putData without dedupe returning plain ids', async () => {
    const queue = open<number>();
    const ids = await queue.putData([1, 2]);
    expect(ids.every((id) => typeof id === 'string')).toBe(true);
    const none = await queue.putData([3], { dedupe: undefined });
    expect(typeof none[0]).toBe('string');
  });

  it('writes nothing for a duplicate: no put counted, no change', async () => {
    ctx.freeze(T0);
    const queue = open<Order>();
    await queue.putData([{ orderId: 'a' }], { dedupe: { key: byOrder, window: 60 } });
    const before = await queue.stats();
    await queue.putData([{ orderId: 'a' }, { orderId: 'a' }], { dedupe: { key: byOrder, window: 60 } });
    expect(await queue.stats()).toEqual(before);
    expect((await queue.stats()).puts).toBe(before.puts);
  });

  it('puts delayed, prioritized and ttl items with dedupe like plain ones', async () => {
    ctx.freeze(T0);
    const queue = open<Order>();
    await queue.putData([{ orderId: 'd' }], { delay: 10, dedupe: { key: byOrder, window: 60 } });
    await queue.putData([{ orderId: 'p' }], { priority: 5, ttl: 100, dedupe: { key: byOrder, window: 60 } });
    expect(await queue.stats()).toMatchObject({ ready: 1, delayed: 1 });
    ctx.freeze(T0 + 10_000);
    const items = await queue.getData(10, { visTimeout: 0 });
    expect([...items.values()]).toEqual([{ orderId: 'p' }, { orderId: 'd' }]);
  });
});

describe('putData with dedupe, until: done', () => {
  const dedupe = { key: byOrder, window: 3600, until: 'done' as const };

  it('holds the key while the item is ready, delayed or leased, across retries; done frees it', async () => {
    ctx.freeze(T0);
    const queue = open<Order>('q', { visTimeout: 10, attempts: 3 });
    const [held] = await queue.putData([{ orderId: 'a' }], { dedupe, delay: 5 });
    expect(await queue.putData([{ orderId: 'a' }], { dedupe })).toEqual([{ id: held?.id, duplicate: true }]);
    ctx.freeze(T0 + 5_000);
    const first = await queue.getData(1);
    expect(first.size).toBe(1);
    expect((await queue.putData([{ orderId: 'a' }], { dedupe }))[0]?.duplicate).toBe(true);
    ctx.freeze(T0 + 15_000);
    // the lease expired: the item is ready again (a retry) and still holds the key
    expect((await queue.putData([{ orderId: 'a' }], { dedupe }))[0]).toEqual({ id: held?.id, duplicate: true });
    const second = await queue.getData(1);
    expect(await queue.doneData(second)).toBe(1);
    const [next] = await queue.putData([{ orderId: 'a' }], { dedupe });
    expect(next?.duplicate).toBe(false);
    expect(await queue.dedupe.get('a')).toEqual({ id: next?.id, expiresAt: new Date(T0 + 15_000 + 3_600_000), until: 'done' });
  });

  it('holds and frees the keys of a 1000-item batch in one step each', async () => {
    ctx.freeze(T0);
    const queue = open<Order>('q', { visTimeout: 30, useDead: true });
    const items = Array.from({ length: 1000 }, (_, i) => ({ orderId: `o${i}` }));
    expect(fresh(await queue.putData(items, { dedupe }))).toHaveLength(1000);
    expect(fresh(await queue.putData(items, { dedupe }))).toHaveLength(0);
    const leases = [...(await queue.getData(1000)).keys()];
    expect(await queue.doneData(leases.slice(0, 600))).toBe(600);
    expect((await queue.failData(leases.slice(600))).size).toBe(400);
    const again = await queue.putData(items, { dedupe });
    expect(fresh(again)).toHaveLength(1000);
    expect(await queue.stats()).toMatchObject({ ready: 1000, dead: 400 });
  });

  it('frees the key when the item is dead-lettered', async () => {
    ctx.freeze(T0);
    const queue = open<Order>('q', { visTimeout: 1, useDead: true });
    await queue.putData([{ orderId: 'a' }], { dedupe });
    await queue.getData(1);
    ctx.freeze(T0 + 1_000);
    // the put sees the spent lease: the item is a dead letter now, and holds nothing
    expect((await queue.putData([{ orderId: 'a' }], { dedupe }))[0]?.duplicate).toBe(false);
    expect(await queue.stats()).toMatchObject({ ready: 1, dead: 1 });
  });

  it('frees the key when failData dead-letters or drops the item', async () => {
    ctx.freeze(T0);
    const queue = open<Order>('q', { visTimeout: 30, attempts: 5 });
    await queue.putData([{ orderId: 'a' }, { orderId: 'b' }], { dedupe });
    const leases = await queue.getData(2);
    const [la, lb] = [...leases.keys()];
    expect((await queue.failData([la as string], { useDead: true })).size).toBe(1);
    expect(await queue.dedupe.get('a')).toBeUndefined();
    expect(await queue.dedupe.get('b')).toMatchObject({ until: 'done' });
    expect((await queue.failData([lb as string], { useDead: false })).size).toBe(1);
    expect(await queue.dedupe.get('b')).toBeUndefined();
  });

  it('frees the key when the attempts are spent without dead letters (dropped)', async () => {
    ctx.freeze(T0);
    const queue = open<Order>('q', { visTimeout: 1, attempts: 2 });
    await queue.putData([{ orderId: 'a' }], { dedupe });
    await queue.getData(1);
    ctx.freeze(T0 + 1_000);
    await queue.getData(1);
    ctx.freeze(T0 + 1_500);
    expect((await queue.putData([{ orderId: 'a' }], { dedupe }))[0]?.duplicate).toBe(true);
    ctx.freeze(T0 + 2_000);
    expect((await queue.putData([{ orderId: 'a' }], { dedupe }))[0]?.duplicate).toBe(false);
    expect((await queue.stats()).dropped).toBe(1);
  });

  it('frees the key when releaseData spends the last attempt', async () => {
    ctx.freeze(T0);
    const queue = open<Order>('q', { visTimeout: 10, attempts: 1 });
    await queue.putData([{ orderId: 'a' }], { dedupe });
    const leases = await queue.getData(1);
    const result = await queue.releaseData(leases);
    expect(result.exhausted.size).toBe(1);
    expect(await queue.dedupe.get('a')).toBeUndefined();
  });

  it('frees the key when the item expires by its ttl', async () => {
    ctx.freeze(T0);
    const queue = open<Order>();
    await queue.putData([{ orderId: 'a' }], { dedupe, ttl: 2 });
    ctx.freeze(T0 + 1_999);
    expect((await queue.putData([{ orderId: 'a' }], { dedupe }))[0]?.duplicate).toBe(true);
    ctx.freeze(T0 + 2_000);
    expect((await queue.putData([{ orderId: 'a' }], { dedupe }))[0]?.duplicate).toBe(false);
    expect((await queue.stats()).expired).toBe(1);
  });

  it('frees the key of an item read at most once', async () => {
    ctx.freeze(T0);
    const queue = open<Order>();
    await queue.putData([{ orderId: 'a' }], { dedupe });
    expect((await queue.getData(1, { visTimeout: 0 })).size).toBe(1);
    expect((await queue.putData([{ orderId: 'a' }], { dedupe }))[0]?.duplicate).toBe(false);
  });

  it('frees every key on clear', async () => {
    ctx.freeze(T0);
    const queue = open<Order>();
    await queue.putData([{ orderId: 'a' }], { dedupe });
    await queue.putData([{ orderId: 'w' }], { dedupe: { key: byOrder, window: 60 } });
    await queue.clear();
    expect(await queue.dedupe.get('a')).toBeUndefined();
    expect(await queue.dedupe.get('w')).toBeUndefined();
    expect((await queue.putData([{ orderId: 'a' }], { dedupe }))[0]?.duplicate).toBe(false);
  });

  it('frees the key at the window, its safety cap, even while the item exists', async () => {
    ctx.freeze(T0);
    const queue = open<Order>();
    const [held] = await queue.putData([{ orderId: 'a' }], { dedupe: { ...dedupe, window: 5 } });
    ctx.freeze(T0 + 5_000);
    const [next] = await queue.putData([{ orderId: 'a' }], { dedupe: { ...dedupe, window: 5 } });
    expect(next?.duplicate).toBe(false);
    expect(await queue.stats()).toMatchObject({ ready: 2 });
    // done of the old holder leaves the new holder's key alone
    const leases = await queue.getData(1, { visTimeout: 10 });
    expect([...leases.keys()].map((lease) => DataQueue.itemId(lease))).toEqual([held?.id]);
    await queue.doneData(leases);
    expect(await queue.dedupe.get('a')).toMatchObject({ id: next?.id });
  });

  it('redrive brings a dead letter back without its key', async () => {
    ctx.freeze(T0);
    const queue = open<Order>('q', { visTimeout: 10, useDead: true });
    await queue.putData([{ orderId: 'a' }], { dedupe });
    await queue.failData(await queue.getData(1));
    expect(await queue.redrive()).toBe(1);
    expect((await queue.putData([{ orderId: 'a' }], { dedupe }))[0]?.duplicate).toBe(false);
  });
});

describe.runIf(ctx.kind === 'redis' || ctx.kind === 'cluster')('dedupe keys on Redis', () => {
  it('stores keys without TTLs, and a later deduplicated put forgets expired ones', async () => {
    ctx.freeze(T0);
    const queue = open<Order>();
    const items = Array.from({ length: 50 }, (_, i) => ({ orderId: `o${i}` }));
    await queue.putData(items, { dedupe: { key: byOrder, window: 1 } });
    await queue.putData([{ orderId: 'd' }], { dedupe: { key: byOrder, window: 1, until: 'done' } });
    const base = `{${ctx.prefix}:q}`;
    expect(await ctx.redis.type(`${base}:dedupe`)).toBe('zset');
    expect(await ctx.redis.type(`${base}:dedupe-holders`)).toBe('hash');
    expect(await ctx.redis.ttl(`${base}:dedupe`)).toBe(-1);
    expect(await ctx.redis.ttl(`${base}:dedupe-holders`)).toBe(-1);
    // 51 keys, 1 reverse entry, 2 claims
    expect(await ctx.redis.hlen(`${base}:dedupe-holders`)).toBe(54);
    ctx.freeze(T0 + 1_000);
    await queue.putData([{ orderId: 'fresh' }], { dedupe: { key: byOrder, window: 60 } });
    // what is left: the new key and its claim
    expect(await ctx.redis.hlen(`${base}:dedupe-holders`)).toBe(2);
    expect(await ctx.redis.zcard(`${base}:dedupe`)).toBe(1);
  });
});

describe('dq.dedupe', () => {
  it('get tells the holder; clear frees the key and leaves the item', async () => {
    ctx.freeze(T0);
    const queue = open<Order>();
    const [held] = await queue.putData([{ orderId: 'a' }], { dedupe: { key: byOrder, window: 30 } });
    expect(await queue.dedupe.get('a')).toEqual({ id: held?.id, expiresAt: new Date(T0 + 30_000), until: 'window' });
    expect(await queue.dedupe.get('zzz')).toBeUndefined();
    expect(await queue.dedupe.clear('a')).toBe(true);
    expect(await queue.dedupe.clear('a')).toBe(false);
    expect(await queue.dedupe.get('a')).toBeUndefined();
    expect(await queue.stats()).toMatchObject({ ready: 1 });
    ctx.freeze(T0 + 31_000);
    await queue.putData([{ orderId: 'b' }], { dedupe: { key: byOrder, window: 30 } });
    ctx.freeze(T0 + 61_000);
    expect(await queue.dedupe.get('b')).toBeUndefined();
  });

  it('rejects a bad key', async () => {
    const queue = open();
    await expect(queue.dedupe.get('')).rejects.toBeInstanceOf(VisqRangeError);
    await expect(queue.dedupe.clear(5 as unknown as string)).rejects.toBeInstanceOf(VisqTypeError);
  });
});

describe('putData with dedupe: bad input writes nothing', () => {
  const cases: [string, unknown, typeof VisqTypeError | typeof VisqRangeError, RegExp][] = [
    ['a key function returning a number', { key: () => 5, window: 1 }, VisqTypeError, /opts\.dedupe\.key\(items\[0\]\)/],
    ['an empty key', { key: () => '', window: 1 }, VisqRangeError, /opts\.dedupe\.key\(items\[0\]\)/],
    ['a key of 513 characters', { key: () => 'k'.repeat(513), window: 1 }, VisqRangeError, /512 characters/],
    ['a window of 0', { key: () => 'k', window: 0 }, VisqRangeError, /opts\.dedupe\.window/],
    ['a negative window', { key: () => 'k', window: -1 }, VisqRangeError, /opts\.dedupe\.window/],
    ['an infinite window', { key: () => 'k', window: Number.POSITIVE_INFINITY }, VisqRangeError, /opts\.dedupe\.window/],
    ['a NaN window', { key: () => 'k', window: Number.NaN }, VisqRangeError, /opts\.dedupe\.window/],
    ['a window as text', { key: () => 'k', window: '5' }, VisqTypeError, /opts\.dedupe\.window/],
    ['an unknown until', { key: () => 'k', until: 'forever' }, VisqTypeError, /opts\.dedupe\.until/],
    ['a key that is no string or function', { key: 7 }, VisqTypeError, /opts\.dedupe\.key/],
    ['an unknown option', { key: 'k', windw: 5 }, VisqTypeError, /opts\.dedupe\.windw/],
    ['no key', { window: 5 }, VisqTypeError, /opts\.dedupe\.key/],
  ];
  for (const [what, dedupe, type, message] of cases) {
    it(`rejects ${what}`, async () => {
      const queue = open<number>();
      const put = queue.putData([1, 2], { dedupe } as never);
      await expect(put).rejects.toBeInstanceOf(type);
      await expect(put).rejects.toThrow(message);
      expect((await queue.stats()).puts).toBe(0);
    });
  }

  it('checks every key before writing: a bad last key rejects the whole call', async () => {
    const queue = open<number>();
    const key = (item: number): string => (item === 999 ? '' : String(item));
    const items = Array.from({ length: 1000 }, (_, i) => i);
    await expect(queue.putData(items, { dedupe: { key, window: 1 } })).rejects.toThrow(/items\[999\]/);
    expect(await queue.stats()).toMatchObject({ ready: 0 });
  });

  it('refuses dedupe together with a group, naming the group, and writes nothing', async () => {
    const queue = open<number>('q', { visTimeout: 30 });
    const put = queue.putData([1, 2], { dedupe: { key: 'content' }, group: 'g' });
    await expect(put).rejects.toBeInstanceOf(VisqRangeError);
    await expect(put).rejects.toThrow(/`opts\.group`.*`opts\.dedupe`/);
    expect((await queue.stats()).puts).toBe(0);
  });

  it('refuses dedupe on a dead-letter queue', async () => {
    const queue = open<number>('q', { useDead: true });
    await expect(queue.dead.putData([1], { dedupe: { key: 'content' } })).rejects.toBeInstanceOf(VisqRangeError);
  });
});

describe.skipIf(ctx.kind !== 'postgres')('putData with dedupe in a PostgreSQL transaction', () => {
  it('holds no key after a rolled-back put, and the key after a committed one', async () => {
    const queue = open<Order>();
    const pool = new pg.Pool({ connectionString: ctx.url, max: 1 });
    try {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        const [inside] = await queue.putData([{ orderId: 'a' }], { db: client, dedupe: { key: byOrder, window: 60 } });
        expect(inside?.duplicate).toBe(false);
        await client.query('ROLLBACK');
        expect(await queue.dedupe.get('a')).toBeUndefined();
        await client.query('BEGIN');
        const [kept] = await queue.putData([{ orderId: 'a' }], { db: client, dedupe: { key: byOrder, window: 60 } });
        await client.query('COMMIT');
        expect(await queue.dedupe.get('a')).toMatchObject({ id: kept?.id, until: 'window' });
        expect((await queue.putData([{ orderId: 'a' }], { dedupe: { key: byOrder, window: 60 } }))[0]).toEqual({ id: kept?.id, duplicate: true });
      } finally {
        client.release();
      }
    } finally {
      await pool.end();
    }
  });
});
