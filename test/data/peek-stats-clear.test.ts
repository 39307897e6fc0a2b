import { describe, expect, it } from 'vitest';
import { ClosedError, DataQueue, VisqError } from '../../src/index.js';
import { useStore } from '../harness/context.js';
import { isRedisKind } from '../harness/store-kind.js';
import { useQueues } from '../harness/queues.js';
import { fullStats } from '../harness/stats.js';

const ctx = useStore();
const open = useQueues(ctx);

/**
 * A queue with something in every state: ready (list and priority, with a ttl), delayed,
 * in flight (one lease refreshed alone), dead letters (one of them held), one expired and
 * one dropped.
 */
async function busyQueue(): Promise<DataQueue<string>> {
  ctx.freeze(Date.now());
  const queue = open<string>('q', { visTimeout: 10, useDead: true });
  // the same queue opened without dead letters: what it reads is dropped when spent
  const dropping = open<string>('q', { visTimeout: 10 });
  await queue.putData(['dead-1', 'dead-2']);
  await queue.getData(2);
  await queue.putData(['dropped']);
  await dropping.getData(1);
  await queue.putData(['expiring'], { ttl: 1 });
  ctx.advance(10);
  await queue.stats();
  await queue.dead.getData(1, { visTimeout: 30 });
  await queue.putData(['held-1', 'held-2']);
  const [held] = (await queue.getData(2)).keys();
  await queue.refreshData([held as string]);
  await queue.putData(['ready-1', 'ready-2']);
  await queue.putData(['urgent'], { priority: 9 });
  await queue.putData(['short'], { ttl: 60 });
  await queue.putData(['later'], { delay: 60 });
  return queue;
}

describe('peekData', () => {
  it('returns the next visible items in delivery order, by id', async () => {
    const queue = open<string>();
    const [normal] = await queue.putData(['normal']);
    const [urgent] = await queue.putData(['urgent'], { priority: 1 });
    const [low] = await queue.putData(['low'], { priority: -1 });
    expect(await queue.peekData(10)).toEqual(
      new Map([
        [urgent, 'urgent'],
        [normal, 'normal'],
        [low, 'low'],
      ]),
    );
    expect([...(await queue.peekData(10)).keys()]).toEqual([urgent, normal, low]);
  });

  it('returns one item when no count is given, at most `count` otherwise', async () => {
    const queue = open<number>();
    await queue.putData([1, 2, 3]);
    expect([...(await queue.peekData()).values()]).toEqual([1]);
    expect([...(await queue.peekData(2)).values()]).toEqual([1, 2]);
  });

  it('leaves the items untouched: no lease, no attempt used, nothing stored changes', async () => {
    const queue = open<string>('q', { visTimeout: 30 });
    await queue.putData(['a', 'b']);
    const before = await ctx.snapshot();
    await queue.peekData(2);
    await queue.peekData(2);
    expect(await ctx.snapshot()).toEqual(before);
    expect((await queue.getDeliveries(2)).map((d) => [d.item, d.delivery])).toEqual([
      ['a', 1],
      ['b', 1],
    ]);
  });

  it('leaves out items that are in flight or delayed', async () => {
    const queue = open<string>('q', { visTimeout: 30 });
    await queue.putData(['held']);
    await queue.getData(1);
    await queue.putData(['later'], { delay: 30 });
    await queue.putData(['visible']);
    expect([...(await queue.peekData(10)).values()]).toEqual(['visible']);
  });

  it('shows an item whose lease has expired', async () => {
    ctx.freeze(Date.now());
    const queue = open<string>('q', { visTimeout: 10, attempts: 2 });
    await queue.putData(['x']);
    await queue.getData(1);
    ctx.advance(10);
    expect([...(await queue.peekData(10)).values()]).toEqual(['x']);
  });

  it('returns an empty Map for an empty queue and writes nothing', async () => {
    expect(await open().peekData(10)).toEqual(new Map());
    expect(await ctx.snapshot()).toEqual({});
  });
});

describe('stats', () => {
  it('counts zero everywhere for a new queue and writes nothing', async () => {
    const stats = await open().stats();
    expect(stats).toEqual({ ready: 0, delayed: 0, inflight: 0, dead: 0 });
    expect(stats).toMatchObject({ expired: 0, dropped: 0, puts: 0, deliveries: 0, headAge: 0 });
    expect(await ctx.snapshot()).toEqual({});
  });

  it('counts items in every state', async () => {
    const queue = await busyQueue();
    const stats = await queue.stats();
    // the contract's four counts are the object's own enumerable fields; the totals ride along
    expect(stats).toEqual({ ready: 4, delayed: 1, inflight: 2, dead: 2 });
    expect(stats).toMatchObject({ expired: 1, dropped: 1 });
    expect([...(await queue.peekData(10)).values()]).toEqual(['urgent', 'ready-1', 'ready-2', 'short']);
  });

  it('returns a fresh object each time', async () => {
    const queue = open();
    const first = await queue.stats();
    (first as { ready: number }).ready = 99;
    expect((await queue.stats()).ready).toBe(0);
  });

  it('counts dead letters in flight or delayed in `dead`', async () => {
    const queue = open<string>();
    await queue.dead.putData(['a', 'b', 'c']);
    await queue.dead.putData(['d'], { delay: 30 });
    await queue.dead.getData(1, { visTimeout: 30 });
    await queue.dead.getData(1);
    // a is held, b was read at-most-once, c is ready and d delayed
    expect(await queue.stats()).toMatchObject({ dead: 3 });
  });

  it('sees the current time: expired leases and due delays are counted where they are now', async () => {
    ctx.freeze(Date.now());
    const queue = open<string>('q', { visTimeout: 10, attempts: 2 });
    await queue.putData(['held']);
    await queue.getData(1);
    await queue.putData(['later'], { delay: 10 });
    expect(await queue.stats()).toMatchObject({ ready: 0, delayed: 1, inflight: 1 });
    ctx.advance(10);
    expect(await queue.stats()).toMatchObject({ ready: 2, delayed: 0, inflight: 0 });
  });
});

describe('inspect', () => {
  it('finds a ready item with its priority and no deliveries', async () => {
    const queue = open<{ n: number }>();
    const [id] = await queue.putData([{ n: 1 }], { priority: 7 });
    expect(await queue.inspect(id as string)).toEqual({
      id,
      state: 'ready',
      item: { n: 1 },
      priority: 7,
      deliveries: 0,
    });
  });

  it('finds a delayed item and when it becomes visible', async () => {
    const now = Date.now();
    ctx.freeze(now);
    const queue = open<string>();
    const [id] = await queue.putData(['later'], { delay: 30 });
    expect(await queue.inspect(id as string)).toEqual({
      id,
      state: 'delayed',
      item: 'later',
      priority: 0,
      deliveries: 0,
      visibleAt: new Date(now + 30_000),
    });
  });

  it('finds an item in flight with its lease, its deadline and the current delivery', async () => {
    const now = Date.now();
    ctx.freeze(now);
    const queue = open<string>('q', { visTimeout: 10, attempts: 3 });
    const [id] = await queue.putData(['x']);
    await queue.getData(1);
    ctx.advance(10);
    const [lease] = (await queue.getData(1)).keys();
    expect(await queue.inspect(id as string)).toEqual({
      id,
      state: 'inflight',
      item: 'x',
      priority: 0,
      deliveries: 2,
      lease,
      leaseUntil: new Date(now + 20_000),
    });
    await queue.refreshData([lease as string], { visTimeout: 60 });
    expect((await queue.inspect(id as string))?.leaseUntil).toEqual(new Date(now + 70_000));
  });

  it('finds a delayed or prioritised item whose id an item before it carries in its payload', async () => {
    const queue = open<string>();
    const cases = [
      { target: { delay: 60 }, decoy: { delay: 30 } },
      { target: { priority: 1 }, decoy: { priority: 5 } },
    ];
    for (const options of cases) {
      const [target = ''] = await queue.putData(['target'], options.target);
      // comes first in its set, and holds the text a scan for the target matches
      await queue.putData([`|${target}|`], options.decoy);
      expect(await queue.inspect(target), JSON.stringify(options)).toMatchObject({ id: target, item: 'target' });
    }
  });

  it('finds a dead letter', async () => {
    const queue = open<string>('q', { visTimeout: 10, useDead: true });
    const [id] = await queue.putData(['x']);
    await queue.failData(await queue.getData(1));
    expect(await queue.inspect(id as string)).toMatchObject({ id, state: 'dead', item: 'x' });
  });

  it('finds nothing for a finished, unknown or pattern-like id, and changes nothing', async () => {
    const queue = open<string>('q', { visTimeout: 10 });
    const [done] = await queue.putData(['done', 'other']);
    await queue.doneData(await queue.getData(1));
    const before = await ctx.snapshot();
    for (const id of [done as string, 'no-such-id', '*', '?', '[a-z]*', '*|*']) {
      expect({ id, found: await queue.inspect(id) }).toEqual({ id, found: undefined });
    }
    expect(await ctx.snapshot()).toEqual(before);
  });
});

describe('clear', () => {
  it('deletes every key of the queue and of its dead-letter queue', async () => {
    const queue = await busyQueue();
    expect(await ctx.snapshot()).not.toEqual({});
    await queue.clear();
    expect(await ctx.snapshot()).toEqual({});
    expect(fullStats(await queue.stats())).toMatchObject({ ready: 0, delayed: 0, inflight: 0, dead: 0, expired: 0, dropped: 0, puts: 0 });
  });

  it('leaves other queues alone', async () => {
    const queue = open<string>('q');
    const other = open<string>('q2');
    await queue.putData(['mine']);
    await other.putData(['theirs']);
    await queue.clear();
    expect([...(await other.peekData(10)).values()]).toEqual(['theirs']);
  });

  it('makes every lease from before the clear stale, even once new items are read', async () => {
    const queue = open<string>('q', { visTimeout: 30 });
    await queue.putData(['old-1', 'old-2']);
    const old = await queue.getData(2);
    await queue.clear();
    await queue.putData(['new-1', 'new-2']);
    const fresh = await queue.getData(2);
    const before = await ctx.snapshot();
    expect(await queue.refreshData(old)).toEqual(new Set());
    expect(await queue.releaseData(old)).toEqual({ requeued: new Set(), exhausted: new Set() });
    expect(await queue.doneData(old)).toBe(0);
    expect(await ctx.snapshot()).toEqual(before);
    expect(await queue.doneData(fresh)).toBe(2);
  });

  it('gives items put after the clear ids never used before', async () => {
    const queue = open<string>();
    const before = await queue.putData(['a', 'b']);
    await queue.clear();
    const after = await queue.putData(['a', 'b']);
    expect(after.filter((id) => before.includes(id))).toEqual([]);
  });

  it('leaves the queue usable', async () => {
    const queue = open<string>('q', { visTimeout: 30 });
    await queue.putData(['a']);
    await queue.clear();
    await queue.putData(['b']);
    const items = await queue.getData(5);
    expect([...items.values()]).toEqual(['b']);
    expect(await queue.doneData(items)).toBe(1);
  });
});

describe('close', () => {
  const calls: { method: string; call: (queue: DataQueue<string>) => Promise<unknown> }[] = [
    { method: 'putData', call: (q) => q.putData(['x']) },
    { method: 'getData', call: (q) => q.getData(1) },
    { method: 'getData with wait', call: (q) => q.getData(1, { wait: 1 }) },
    { method: 'getDeliveries', call: (q) => q.getDeliveries(1) },
    { method: 'refreshData', call: (q) => q.refreshData([]) },
    { method: 'doneData', call: (q) => q.doneData([]) },
    { method: 'releaseData', call: (q) => q.releaseData([]) },
    { method: 'peekData', call: (q) => q.peekData(1) },
    { method: 'stats', call: (q) => q.stats() },
    { method: 'redrive', call: (q) => q.redrive() },
    { method: 'failData', call: (q) => q.failData([]) },
    { method: 'inspect', call: (q) => q.inspect('id') },
    { method: 'clear', call: (q) => q.clear() },
  ];

  it.each(calls)('makes later $method calls reject with ClosedError', async ({ call }) => {
    const queue = open<string>('q', { visTimeout: 30 });
    await queue.putData(['kept']);
    await queue.close();
    const before = await ctx.snapshot();
    const error = await call(queue).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ClosedError);
    expect(error).toBeInstanceOf(VisqError);
    expect((error as ClosedError).code).toBe('ERR_VISQ_CLOSED');
    expect(await ctx.snapshot()).toEqual(before);
  });

  it('closes the dead-letter queue with its queue', async () => {
    const queue = open<string>();
    const { dead } = queue;
    await queue.close();
    await expect(dead.stats()).rejects.toBeInstanceOf(ClosedError);
  });

  it('closes the dead-letter queue even when it is first used after the close', async () => {
    const queue = open<string>();
    await queue.close();
    await expect(queue.dead.stats()).rejects.toBeInstanceOf(ClosedError);
  });

  it('can be called more than once', async () => {
    const queue = open();
    await queue.close();
    await expect(queue.close()).resolves.toBeUndefined();
  });

  it.runIf(isRedisKind(ctx.kind))("leaves the caller's connection open for other queues and commands", async () => {
    const queue = open<string>();
    await queue.putData(['x']);
    await queue.getData(1, { wait: 0.01 });
    await queue.close();
    expect(ctx.redis.status).toBe('ready');
    expect(await ctx.redis.ping()).toBe('PONG');
    const again = open<string>();
    await again.putData(['y']);
    expect([...(await again.getData(1)).values()]).toEqual(['y']);
  });

  it('leaves the items stored', async () => {
    const queue = open<string>();
    await queue.putData(['x']);
    await queue.close();
    expect([...(await open<string>().getData(1)).values()]).toEqual(['x']);
  });
});
