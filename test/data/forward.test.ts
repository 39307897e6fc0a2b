/**
 * forward(): moving items from one store to another. Runs between two private
 * redis-servers, and between two MemoryStores (only the latter with VISQ_TEST_STORE=memory).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, beforeEach, describe, expect, expectTypeOf, it } from 'vitest';
import {
  DataQueue,
  forward,
  MemoryStore,
  type DataQueueOptions,
  type ForwardProgress,
  type ForwardResult,
  type StoreLike,
} from '../../src/index.js';
import { startRedisServer, type RedisServer } from '../harness/redis-server.js';
import { doneReporting, putCarrying } from '../../src/data/queue.js';

type Kind = 'redis' | 'memory';
const KINDS: Kind[] = process.env.VISQ_TEST_STORE === 'memory' ? ['memory'] : ['redis', 'memory'];

interface Item {
  n: number;
}

const items = (from: number, to: number): Item[] => Array.from({ length: to - from }, (_, i) => ({ n: from + i }));

/** Everything visible in `dq`, read at-most-once (so removed), in delivery order. */
async function drain<T>(dq: DataQueue<T>): Promise<T[]> {
  const out: T[] = [];
  for (;;) {
    const batch = await dq.getData(1000, { visTimeout: 0 });
    if (batch.size === 0) return out;
    out.push(...batch.values());
  }
}

/** A target whose first put takes longer than the source lease, so that its done finds stale leases. */
class SlowTarget<T> extends DataQueue<T> {
  puts = 0;
  // the forwarder puts through this internal method (items with their trace context)
  override async [putCarrying](batch: readonly T[], metas: readonly string[]): Promise<string[]> {
    this.puts += 1;
    if (this.puts === 1) await sleep(300);
    return super[putCarrying](batch, metas);
  }
}

/** A source whose done fails the first time, as a forwarder that dies between put and done. */
class DiesBeforeDone<T> extends DataQueue<T> {
  dones = 0;
  // the forwarder finishes through this internal method (a done without a span)
  override async [doneReporting](leases: Iterable<string>): Promise<Set<string>> {
    this.dones += 1;
    if (this.dones === 2) throw new Error('died between put and done');
    return super[doneReporting](leases);
  }
}

describe.each(KINDS)('forward between two %s stores', (kind) => {
  const servers: RedisServer[] = [];
  let stores: [StoreLike, StoreLike];
  let prefix = '';
  let counter = 0;
  const opened: DataQueue<unknown>[] = [];

  beforeAll(async () => {
    if (kind === 'redis') {
      servers.push(await startRedisServer(), await startRedisServer());
      stores = [servers[0]!.client(), servers[1]!.client()];
    } else {
      stores = [new MemoryStore(), new MemoryStore()];
    }
  });
  afterAll(async () => {
    await Promise.all(opened.splice(0).map((dq) => dq.close()));
    if (kind === 'redis') await Promise.all(servers.map((s) => s.stop()));
    else await Promise.all(stores.map((s) => (s as MemoryStore).close()));
  });
  beforeEach(() => {
    counter += 1;
    prefix = `fwd${counter}`;
  });

  function queues(options: { source?: DataQueueOptions; target?: DataQueueOptions } = {}) {
    const source = new DataQueue<Item>(stores[0], 'q', { prefix, ...options.source });
    const target = new DataQueue<Item>(stores[1], 'q', { prefix, ...options.target });
    opened.push(source, target);
    return { source, target };
  }

  /** Puts `count` items in `dq` and lets them die: one delivery, a 20 ms lease, dead letters. */
  async function deadLetters(store: StoreLike, from: number, to: number): Promise<void> {
    const dq = new DataQueue<Item>(store, 'q', { prefix, visTimeout: 0.02, useDead: true });
    opened.push(dq);
    await dq.putData(items(from, to));
    await dq.getData(1000);
    await sleep(40);
    expect((await dq.stats()).dead).toBe(to - from);
  }

  it('moves every visible item into the target, in the source order, and empties the source', async () => {
    const { source, target } = queues();
    await source.putData(items(0, 250));
    await source.putData(items(250, 260), { priority: 5 });

    const result = await forward(source, target, { batch: 40 });

    expect(result).toMatchObject({ moved: 260, ready: 260, dead: 0, stale: 0, stopped: 'drained' });
    expect(result.elapsed).toBeGreaterThan(0);
    expect(await source.stats()).toMatchObject({ ready: 0, inflight: 0, delayed: 0, dead: 0 });
    // priority decides the source order; the target receives them in it, all at priority 0
    expect((await drain(target)).map((i) => i.n)).toEqual([...items(250, 260), ...items(0, 250)].map((i) => i.n));
  });

  it('reports progress after every batch', async () => {
    const { source, target } = queues();
    await source.putData(items(0, 25));
    const seen: ForwardProgress[] = [];

    await forward(source, target, { batch: 10, onProgress: (p) => seen.push(p) });

    expect(seen.map((p) => [p.moved, p.ready, p.phase])).toEqual([
      [10, 10, 'ready'],
      [20, 20, 'ready'],
      [25, 25, 'ready'],
    ]);
  });

  it('reads at most `rate` items at a time', async () => {
    const { source, target } = queues();
    await source.putData(items(0, 12));
    const steps: number[] = [];

    const result = await forward(source, target, { rate: 50, batch: 1000, onProgress: (p) => steps.push(p.moved) });

    expect(steps).toEqual([12]);
    await source.putData(items(12, 19));
    steps.length = 0;
    await forward(source, target, { rate: 5, onProgress: (p) => steps.push(p.moved) });
    expect(steps).toEqual([5, 7]);
    expect(result.moved).toBe(12);
    expect((await drain(target)).length).toBe(19);
  });

  it('with `dead`, moves the dead letters into the target dead-letter queue', async () => {
    const { source, target } = queues();
    await deadLetters(stores[0], 0, 30);
    await source.putData(items(100, 110));

    const result = await forward(source, target, { dead: true, batch: 7 });

    expect(result).toMatchObject({ moved: 40, ready: 10, dead: 30, stopped: 'drained' });
    expect(await source.stats()).toMatchObject({ ready: 0, inflight: 0, dead: 0 });
    expect((await drain(target)).map((i) => i.n)).toEqual(items(100, 110).map((i) => i.n));
    expect((await drain(target.dead)).map((i) => i.n)).toEqual(items(0, 30).map((i) => i.n));
  });

  it('leaves dead letters alone without `dead`', async () => {
    const { source, target } = queues();
    await deadLetters(stores[0], 0, 3);
    expect(await forward(source, target)).toMatchObject({ moved: 0 });
    expect((await source.stats()).dead).toBe(3);
  });

  it('leaves delayed and in-flight items in the source', async () => {
    const { source, target } = queues();
    await source.putData(items(0, 2), { delay: 60 });
    await source.putData(items(2, 5));
    const consumer = new DataQueue<Item>(stores[0], 'q', { prefix });
    opened.push(consumer);
    const held = await consumer.getData(1, { visTimeout: 60 });

    expect(await forward(source, target)).toMatchObject({ moved: 2 });
    expect(await source.stats()).toMatchObject({ ready: 0, delayed: 2, inflight: 1 });
    expect([...held.values()]).toEqual([{ n: 2 }]);
  });

  it('with `follow`, keeps moving new items until the signal aborts', async () => {
    const { source, target } = queues();
    const stop = new AbortController();
    const moved = new Set<number>();
    const running = forward(source, target, {
      follow: true,
      signal: stop.signal,
      onProgress: (p) => {
        moved.add(p.moved);
        if (p.moved === 30) stop.abort();
      },
    });
    for (let i = 0; i < 3; i += 1) {
      await source.putData(items(i * 10, i * 10 + 10));
      await sleep(20);
    }

    const result = await running;
    expect(result).toMatchObject({ moved: 30, stopped: 'aborted' });
    expect((await drain(target)).length).toBe(30);
  });

  it('moves nothing when the signal is already aborted', async () => {
    const { source, target } = queues();
    await source.putData(items(0, 3));
    const result = await forward(source, target, { signal: AbortSignal.abort() });
    expect(result).toMatchObject({ moved: 0, stopped: 'aborted' });
    expect((await source.stats()).ready).toBe(3);
  });

  it('hands a batch back at once, without using an attempt, when the put fails', async () => {
    const { source, target } = queues({ target: { maxItemBytes: 20 } });
    await source.putData([{ n: 1 }, { n: 123456789012345678 }]);

    await expect(forward(source, target)).rejects.toThrow(RangeError);

    expect(await source.stats()).toMatchObject({ ready: 2, inflight: 0 });
    const [again] = await source.getDeliveries(1, { visTimeout: 1 });
    expect(again?.delivery).toBe(1);
  });

  it('counts items whose lease expired before done as stale; they are moved again', async () => {
    const source = new DataQueue<Item>(stores[0], 'q', { prefix });
    const target = new SlowTarget<Item>(stores[1], 'q', { prefix });
    opened.push(source, target);
    await source.putData(items(0, 3));

    const result = await forward(source, target, { visTimeout: 0.1 });

    expect(result.stale).toBeGreaterThanOrEqual(3);
    expect(result.ready).toBe(result.stale + 3);
    const moved = (await drain(target)).map((i) => i.n);
    expect(new Set(moved)).toEqual(new Set([0, 1, 2]));
  });

  it('loses nothing when it dies between a put and its done: that batch is moved twice', async () => {
    const source = new DiesBeforeDone<Item>(stores[0], 'q', { prefix });
    const { target } = queues();
    opened.push(source);
    await source.putData(items(0, 50));

    await expect(forward(source, target, { batch: 10, visTimeout: 0.05 })).rejects.toThrow('died between put and done');
    await sleep(80); // the lease of the batch in both queues expires
    const restarted = new DataQueue<Item>(stores[0], 'q', { prefix });
    opened.push(restarted);
    await forward(restarted, target, { batch: 10 });

    const moved = (await drain(target)).map((i) => i.n);
    expect(new Set(moved)).toEqual(new Set(items(0, 50).map((i) => i.n)));
    const twice = moved.filter((n, i) => moved.indexOf(n) !== i).sort((x, y) => x - y);
    expect(twice).toEqual(items(10, 20).map((i) => i.n));
  });

  it('rejects the same queue twice and bad options', async () => {
    const { source, target } = queues();
    await expect(forward(source, source)).rejects.toThrow(RangeError);
    await expect(forward(source, target, { batch: 0 })).rejects.toThrow('Expected `options.batch` to be an integer from 1 to 1000, got 0 (number)');
    await expect(forward(source, target, { rate: 0 })).rejects.toThrow(RangeError);
    await expect(forward(source, target, { visTimeout: 0 })).rejects.toThrow(RangeError);
    // @ts-expect-error an unknown option
    await expect(forward(source, target, { deadLetters: true })).rejects.toThrow(TypeError);
  });

  it('is typed by the queues', () => {
    const { source, target } = queues();
    expectTypeOf(forward(source, target)).resolves.toEqualTypeOf<ForwardResult>();
    // @ts-expect-error items of another type
    const mismatched = () => forward(source, new DataQueue<string>(stores[1], 'other', { prefix }));
    expectTypeOf(mismatched).toBeFunction();
  });
});
