/**
 * Rate limits, in-flight caps and pauses (docs/rate-limits.md), on every store. Token
 * accounting runs on the frozen test clock, so that every count is exact; blocking reads
 * run on the real clock and are checked for what they return (and, on Redis, for how
 * few calls they made), never for how long they took.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { beforeEach, describe, expect, it } from 'vitest';
import { VisqRangeError, VisqTypeError, type DataQueue, type DataQueueOptions } from '../../src/index.js';
import { useStore } from '../harness/context.js';
import { useQueues } from '../harness/queues.js';
import { scriptCalls, untilBlocked } from '../harness/blocking.js';

const ctx = useStore();
const open = useQueues(ctx);

const START_MS = 1_800_000_000_000;
const LONG_WAIT = 60;
const IN_TIME = 10_000;

/** The same queue seen from a connection of its own, as another process would. */
function openElsewhere<T = unknown>(name = 'q', options: DataQueueOptions = {}): DataQueue<T> {
  return open<T>(name, options, ctx.elsewhere());
}

/** Puts `n` numbered items. */
async function fill(queue: DataQueue<number>, n: number): Promise<void> {
  await queue.putData(Array.from({ length: n }, (_, i) => i));
}

beforeEach(async () => {
  await untilBlocked(ctx, 0);
});

describe('options', () => {
  const bad: [string, DataQueueOptions, RegExp][] = [
    ['perSecond 0', { rateLimit: { perSecond: 0 } }, /`options\.rateLimit\.perSecond`.*greater than 0/],
    ['perSecond < 0', { rateLimit: { perSecond: -5 } }, /`options\.rateLimit\.perSecond`/],
    ['perSecond NaN', { rateLimit: { perSecond: Number.NaN } }, /`options\.rateLimit\.perSecond`/],
    ['perSecond Infinity', { rateLimit: { perSecond: Number.POSITIVE_INFINITY } }, /`options\.rateLimit\.perSecond`/],
    ['burst 0', { rateLimit: { perSecond: 5, burst: 0 } }, /`options\.rateLimit\.burst`.*integer from 1/],
    ['burst 1.5', { rateLimit: { perSecond: 5, burst: 1.5 } }, /`options\.rateLimit\.burst`/],
    ['maxInflight 0', { maxInflight: 0 }, /`options\.maxInflight`.*integer from 1/],
    ['maxInflight 2.5', { maxInflight: 2.5 }, /`options\.maxInflight`/],
  ];

  it.each(bad)('refuses %s with a RangeError naming the argument', (_, options, message) => {
    expect(() => open('q', options)).toThrow(VisqRangeError);
    expect(() => open('q', options)).toThrow(message);
  });

  it('refuses a non-number perSecond, a missing perSecond and unknown keys with a TypeError', () => {
    expect(() => open('q', { rateLimit: { perSecond: '5' as unknown as number } })).toThrow(VisqTypeError);
    expect(() => open('q', { rateLimit: {} as unknown as { perSecond: number } })).toThrow(/`options\.rateLimit\.perSecond`/);
    expect(() => open('q', { rateLimit: { perSecond: 5, brust: 2 } as unknown as { perSecond: number } })).toThrow(
      /`options\.rateLimit\.brust`/,
    );
  });

  it('refuses an at-most-once read on a queue with maxInflight, before anything is read', async () => {
    const queue = open<number>('q', { maxInflight: 2 });
    await fill(queue, 1);
    await expect(queue.getData(1)).rejects.toThrow(VisqRangeError);
    await expect(queue.getData(1, { visTimeout: 0 })).rejects.toThrow(/`opts\.visTimeout`/);
    expect((await queue.stats()).ready).toBe(1);
  });

  it('refuses a negative or non-number pause and writes nothing', async () => {
    const queue = open<number>();
    await fill(queue, 1);
    const before = await ctx.snapshot();
    await expect(queue.limit(-1)).rejects.toThrow(VisqRangeError);
    await expect(queue.limit(-1)).rejects.toThrow(/`seconds`/);
    await expect(queue.limit(Number.NaN)).rejects.toThrow(/`seconds`/);
    await expect(queue.limit('5' as unknown as number)).rejects.toThrow(VisqTypeError);
    expect(await ctx.snapshot()).toEqual(before);
  });
});

describe('rateLimit', () => {
  it('gives a read at most the tokens there are, exactly, on the frozen clock', async () => {
    ctx.freeze(START_MS);
    const queue = open<number>('q', { rateLimit: { perSecond: 200, burst: 20 }, visTimeout: 30 });
    await fill(queue, 200);
    expect((await queue.getData(100)).size).toBe(20);
    expect((await queue.getData(100)).size).toBe(0);
    ctx.advance(0.004);
    expect((await queue.getData(100)).size).toBe(0);
    ctx.advance(0.001);
    expect((await queue.getData(100)).size).toBe(1);
    ctx.advance(0.05);
    expect((await queue.getData(100)).size).toBe(10);
    ctx.advance(3600);
    // idle for an hour: the bucket holds `burst`, not an hour's worth
    expect((await queue.getData(100)).size).toBe(20);
    expect((await queue.stats()).deliveries).toBe(51);
  });

  it('is shared by every reader of the queue', async () => {
    ctx.freeze(START_MS);
    const limits = { rateLimit: { perSecond: 10, burst: 5 }, visTimeout: 30 };
    const a = open<number>('q', limits);
    // the frozen clock is the file's connection's: another DataQueue on it
    const b = open<number>('q', limits);
    await fill(a, 50);
    expect((await a.getData(3)).size).toBe(3);
    expect((await b.getData(10)).size).toBe(2);
    expect((await a.getData(10)).size).toBe(0);
    ctx.advance(0.3);
    expect((await b.getData(1)).size).toBe(1);
    expect((await a.getData(10)).size).toBe(2);
    expect((await b.getData(10)).size).toBe(0);
  });

  it('is shared across connections, as by readers in other processes', async () => {
    const limits = { rateLimit: { perSecond: 0.001, burst: 4 }, visTimeout: 30 };
    const a = open<number>('q', limits);
    const b = openElsewhere<number>('q', limits);
    await fill(a, 10);
    expect((await a.getData(3)).size).toBe(3);
    expect((await b.getData(10)).size).toBe(1);
    expect((await a.getData(10)).size).toBe(0);
    expect((await b.getData(10)).size).toBe(0);
  });

  it('never allows a double burst across a window edge', async () => {
    ctx.freeze(START_MS + 999);
    const queue = open<number>('q', { rateLimit: { perSecond: 10, burst: 10 }, visTimeout: 30 });
    await fill(queue, 100);
    expect((await queue.getData(100)).size).toBe(10);
    // a fixed one-second window would start afresh here and give 10 more
    ctx.advance(0.001);
    expect((await queue.getData(100)).size).toBe(0);
    ctx.advance(0.099);
    expect((await queue.getData(100)).size).toBe(1);
    ctx.advance(0.5);
    expect((await queue.getData(100)).size).toBe(5);
  });

  it('takes fractional rates, with a default burst of one second of items', async () => {
    ctx.freeze(START_MS);
    const slow = open<number>('slow', { rateLimit: { perSecond: 0.5 }, visTimeout: 30 });
    await fill(slow, 10);
    expect((await slow.getData(10)).size).toBe(1);
    ctx.advance(1.999);
    expect((await slow.getData(10)).size).toBe(0);
    ctx.advance(0.001);
    expect((await slow.getData(10)).size).toBe(1);

    const fast = open<number>('fast', { rateLimit: { perSecond: 7.5 }, visTimeout: 30 });
    await fill(fast, 20);
    expect((await fast.getData(20)).size).toBe(8);
  });

  it('counts items delivered, not items asked for, and limits at-most-once reads too', async () => {
    ctx.freeze(START_MS);
    const queue = open<number>('q', { rateLimit: { perSecond: 10, burst: 10 } });
    await fill(queue, 3);
    expect((await queue.getData(100)).size).toBe(3);
    await fill(queue, 20);
    expect((await queue.getData(100)).size).toBe(7);
    expect((await queue.getData(100)).size).toBe(0);
  });

  it('leaves readers that declare no limit alone', async () => {
    ctx.freeze(START_MS);
    const limited = open<number>('q', { rateLimit: { perSecond: 1, burst: 1 }, visTimeout: 30 });
    const plain = open<number>('q', { visTimeout: 30 });
    await fill(limited, 10);
    expect((await limited.getData(10)).size).toBe(1);
    expect((await plain.getData(10)).size).toBe(9);
  });

  it('returns an empty read at once when it may not wait, not counted as an empty read', async () => {
    const queue = open<number>('q', { rateLimit: { perSecond: 0.001, burst: 1 }, visTimeout: 30 });
    await fill(queue, 2);
    expect((await queue.getData(2)).size).toBe(1);
    expect((await queue.getData(2)).size).toBe(0);
    // held back by the limit, the read did not look for items
    expect((await queue.stats()).emptyReads).toBe(0);
  });

  it(
    'makes a blocking read sleep until the next token is due, then deliver, without polling',
    async () => {
      // one token every 300 ms
      const queue = open<number>('q', { rateLimit: { perSecond: 10 / 3, burst: 1 }, visTimeout: 30 });
      await fill(queue, 2);
      expect((await queue.getData(5)).size).toBe(1);
      const calls = ctx.kind === 'redis' ? await scriptCalls(ctx) : 0;
      const got = await queue.getDeliveries(5, { wait: LONG_WAIT });
      expect(got.map((d) => d.item)).toEqual([1]);
      // the empty read, then the one when the token was due (a clock a ms apart may add one)
      if (ctx.kind === 'redis') expect((await scriptCalls(ctx)) - calls).toBeLessThanOrEqual(4);
    },
    IN_TIME,
  );

  it(
    'is not woken by puts while it waits for a token',
    async () => {
      const queue = open<number>('q', { rateLimit: { perSecond: 1 / 30, burst: 1 }, visTimeout: 30 });
      await fill(queue, 1);
      expect((await queue.getData(1)).size).toBe(1);
      const controller = new AbortController();
      const waiter = queue.getData(1, { wait: LONG_WAIT, signal: controller.signal });
      await sleep(50);
      const calls = ctx.kind === 'redis' ? await scriptCalls(ctx) : 0;
      const other = openElsewhere<number>();
      for (let i = 0; i < 5; i += 1) await other.putData([i]);
      await sleep(100);
      // only the puts themselves ran: the sleeping reader did not read again
      if (ctx.kind === 'redis') expect((await scriptCalls(ctx)) - calls).toBe(5);
      controller.abort();
      expect((await waiter).size).toBe(0);
    },
    IN_TIME,
  );
});

describe('maxInflight', () => {
  it('caps the items leased at once across readers; done, release and expiry free slots', async () => {
    ctx.freeze(START_MS);
    const a = open<number>('q', { maxInflight: 3, visTimeout: 10 });
    const b = open<number>('q', { maxInflight: 3, visTimeout: 10 });
    await fill(a, 20);
    const first = await a.getData(2);
    expect(first.size).toBe(2);
    const second = await b.getData(10);
    expect(second.size).toBe(1);
    expect((await a.getData(10)).size).toBe(0);
    expect(await b.doneData([...first.keys()].slice(0, 1))).toBe(1);
    const third = await a.getData(10);
    expect(third.size).toBe(1);
    await b.releaseData(third.keys());
    expect((await b.getData(10)).size).toBe(1);
    expect((await a.stats()).inflight).toBe(3);
    ctx.advance(10);
    // every lease expired: three slots, and the items are visible again
    expect((await a.getData(10, { visTimeout: 5 })).size).toBe(3);
    expect((await a.stats()).inflight).toBe(3);
  });

  it('combines with a rate limit: a read gets the smaller of the two', async () => {
    ctx.freeze(START_MS);
    const queue = open<number>('q', { maxInflight: 5, rateLimit: { perSecond: 10, burst: 3 }, visTimeout: 30 });
    await fill(queue, 20);
    expect((await queue.getData(10)).size).toBe(3);
    ctx.advance(10);
    expect((await queue.getData(10)).size).toBe(2);
    // no slot left: the tokens stay in the bucket
    expect((await queue.getData(10)).size).toBe(0);
  });

  it(
    'wakes a blocked reader when another reader finishes a lease, and not on puts',
    async () => {
      const queue = open<number>('q', { maxInflight: 1, visTimeout: 60 });
      const other = openElsewhere<number>('q', { maxInflight: 1, visTimeout: 60 });
      await fill(queue, 2);
      const held = await other.getData(1);
      expect(held.size).toBe(1);
      const waiter = queue.getDeliveries(1, { wait: LONG_WAIT });
      await untilBlocked(ctx, 1);
      const calls = ctx.kind === 'redis' ? await scriptCalls(ctx) : 0;
      await other.putData([7]);
      await sleep(100);
      if (ctx.kind === 'redis') expect((await scriptCalls(ctx)) - calls).toBe(1);
      expect(await other.doneData(held)).toBe(1);
      expect((await waiter).map((d) => d.item)).toEqual([1]);
    },
    IN_TIME,
  );

  it(
    'wakes a blocked reader when a lease expires',
    async () => {
      const queue = open<number>('q', { maxInflight: 1, visTimeout: 0.2 });
      await fill(queue, 2);
      expect((await queue.getData(1)).size).toBe(1);
      const got = await queue.getDeliveries(2, { wait: LONG_WAIT });
      expect(got).toHaveLength(1);
    },
    IN_TIME,
  );
});

describe('concurrent readers', () => {
  // the real clock, so that every reader can have a connection of its own; a rate this
  // low brings no token while the test runs
  it.each([
    ['the tokens', { rateLimit: { perSecond: 0.001, burst: 7 } }, 7],
    ['the in-flight cap', { maxInflight: 5 }, 5],
    ['both', { rateLimit: { perSecond: 0.001, burst: 7 }, maxInflight: 5 }, 5],
  ] as const)('never take more than %s between them', async (_, limits, allowed) => {
    const options = { ...limits, visTimeout: 60 };
    await fill(open<number>('q', options), 40);
    const readers = Array.from({ length: 8 }, () => openElsewhere<number>('q', options));
    const got = await Promise.all(readers.map((reader) => reader.getData(3)));
    expect(got.reduce((sum, items) => sum + items.size, 0)).toBe(allowed);
    expect((await readers[0]?.stats())?.inflight).toBe(allowed);
  });
});

describe('cost', () => {
  it('adds no command to a read without limits (Redis)', async (test) => {
    if (ctx.kind !== 'redis') return test.skip();
    const queue = open<number>('q', { visTimeout: 30 });
    await fill(queue, 10);
    await ctx.redis.config('RESETSTAT');
    expect((await queue.getData(10)).size).toBe(10);
    const stats = await ctx.redis.info('commandstats');
    const calls = (name: string): number => Number(new RegExp(`^cmdstat_${name}:calls=(\\d+)`, 'm').exec(stats)?.[1] ?? 0);
    // the pause is one more field of the HMGET the read makes anyway
    expect(calls('hmget')).toBe(1);
    for (const name of ['hget', 'hlen', 'xrevrange', 'zrange']) expect(calls(name), name).toBe(0);
  });
});

describe('limit', () => {
  it('pauses every read of the queue until it ends, limited readers or not, and limit(0) lifts it', async () => {
    ctx.freeze(START_MS);
    const queue = open<number>('q', { visTimeout: 30 });
    const limited = open<number>('q', { visTimeout: 30, maxInflight: 10 });
    await fill(queue, 10);
    const held = await queue.getData(1);
    const until = await queue.limit(30);
    expect(until).toEqual(new Date(START_MS + 30_000));
    expect((await queue.getData(5)).size).toBe(0);
    expect((await limited.getData(5)).size).toBe(0);
    // leased items stay leased and can be finished
    expect(await queue.doneData(held)).toBe(1);
    ctx.advance(29.999);
    expect((await queue.getData(5)).size).toBe(0);
    ctx.advance(0.001);
    expect((await queue.getData(5)).size).toBe(5);
    await limited.limit(60);
    expect((await limited.getData(5)).size).toBe(0);
    expect(await limited.limit(0)).toBeUndefined();
    expect((await limited.getData(5)).size).toBe(4);
  });

  it(
    'wakes blocked readers when the pause is lifted, and not on puts',
    async () => {
      const queue = open<number>();
      await queue.limit(LONG_WAIT * 10);
      await fill(queue, 1);
      const waiter = openElsewhere<number>().getData(1, { wait: LONG_WAIT });
      await untilBlocked(ctx, 1);
      const calls = ctx.kind === 'redis' ? await scriptCalls(ctx) : 0;
      await queue.putData([5]);
      await sleep(100);
      if (ctx.kind === 'redis') expect((await scriptCalls(ctx)) - calls).toBe(1);
      await queue.limit(0);
      expect([...(await waiter).values()]).toEqual([0]);
    },
    IN_TIME,
  );

  it(
    'lets blocked readers go when a short pause ends',
    async () => {
      const queue = open<number>();
      await fill(queue, 1);
      await queue.limit(0.2);
      expect([...(await queue.getData(1, { wait: LONG_WAIT })).values()]).toEqual([0]);
    },
    IN_TIME,
  );

  it('is forgotten by clear(), with the rate limit bucket', async () => {
    ctx.freeze(START_MS);
    const queue = open<number>('q', { rateLimit: { perSecond: 1, burst: 2 }, visTimeout: 30 });
    await fill(queue, 5);
    expect((await queue.getData(5)).size).toBe(2);
    await queue.limit(60);
    await queue.clear();
    await fill(queue, 5);
    expect((await queue.getData(5)).size).toBe(2);
  });

  it('leaves the dead-letter queue readable', async () => {
    ctx.freeze(START_MS);
    const queue = open<number>('q', { visTimeout: 1, useDead: true });
    await fill(queue, 1);
    await queue.failData((await queue.getData(1)).keys());
    await queue.limit(30);
    expect((await queue.dead.getData(1)).size).toBe(1);
  });
});
