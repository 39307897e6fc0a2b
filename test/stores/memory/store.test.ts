/**
 * What only the MemoryStore has to prove: many queues in one object, blocking waits
 * woken in process, close, the test clock keyed on the store, scale, and that it agrees
 * with the Redis backend step by step on random workloads. The shared suites prove the
 * rest of the contract by running with VISQ_TEST_STORE=memory. These tests make their
 * own stores (and their own redis-server), so they run the same whatever that variable says.
 */
import fc from 'fast-check';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { advanceClock, freezeClock } from '../../../src/data/clock.js';
import { dumpMemoryStore } from '../../../src/stores/memory/store.js';
import { ClosedError, DataQueue, MemoryStore, type DataQueueOptions, type StoreLike } from '../../../src/index.js';
import { startRedisServer, type RedisServer } from '../../harness/redis-server.js';
import { fullStats } from '../../harness/stats.js';

const stores: MemoryStore[] = [];

function newStore(): MemoryStore {
  const store = new MemoryStore();
  stores.push(store);
  return store;
}

function open<T = unknown>(store: MemoryStore, name = 'q', options: DataQueueOptions = {}): DataQueue<T> {
  return new DataQueue<T>(store, name, options);
}

afterEach(async () => {
  await Promise.all(stores.splice(0).map((store) => store.close()));
});

/**
 * `promise`'s value, or 'still pending' when it has not settled within a guard far
 * shorter than the waits under test: tells a wake-up from a wait that ran out.
 */
async function settled<T>(promise: Promise<T>, guardMs = 5_000): Promise<T | 'still pending'> {
  let timer: NodeJS.Timeout | undefined;
  const guard = new Promise<'still pending'>((resolve) => {
    timer = setTimeout(() => resolve('still pending'), guardMs);
  });
  try {
    return await Promise.race([promise, guard]);
  } finally {
    clearTimeout(timer);
  }
}

/** Lets pending reads reach their wait before the test acts. */
function tick(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 10));
}

/** What a blocking read gets when `act` runs while it waits ('still pending' if not woken). */
async function readWokenBy<T>(read: () => Promise<Map<string, T>>, act: () => Promise<unknown>): Promise<T[] | 'still pending'> {
  const got = read();
  await tick();
  await act();
  const result = await settled(got);
  return result === 'still pending' ? result : [...result.values()];
}

/** Reads `queue` 1000 at a time until nothing is visible, handing each batch to `each`. */
async function drain<T>(queue: DataQueue<T>, each: (batch: Map<string, T>) => unknown): Promise<void> {
  for (let batch = await queue.getData(1000); batch.size > 0; batch = await queue.getData(1000)) await each(batch);
}

function timers(): number {
  return process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length;
}

describe('MemoryStore', () => {
  it('is exported from the package entry and accepted wherever a Redis connection is', async () => {
    const queue = open<string>(newStore());
    const [id] = await queue.putData(['a']);
    expect(await queue.peekData()).toEqual(new Map([[id, 'a']]));
  });

  it('shares one queue between DataQueues of the same prefix and name', async () => {
    const store = newStore();
    const producer = open<number>(store, 'jobs', { visTimeout: 30 });
    const consumer = open<number>(store, 'jobs', { visTimeout: 30 });
    const ids = await producer.putData([1, 2, 3]);
    const got = await consumer.getDeliveries(3);
    expect(got.map((delivery) => delivery.id)).toEqual(ids);
    // a lease is the queue's, not the DataQueue object's
    expect(await producer.doneData(got.map((delivery) => delivery.lease))).toBe(3);
    expect(await consumer.stats()).toMatchObject({ ready: 0, inflight: 0 });
  });

  it('keeps queues of different names and prefixes apart', async () => {
    const store = newStore();
    const a = open<string>(store, 'a');
    const b = open<string>(store, 'b');
    const otherPrefix = open<string>(store, 'a', { prefix: 'other' });
    await a.putData(['for a']);
    await b.putData(['for b']);
    expect([...(await b.getData(10)).values()]).toEqual(['for b']);
    expect(await otherPrefix.getData(10)).toEqual(new Map());
    expect([...(await a.getData(10)).values()]).toEqual(['for a']);
  });

  it('keeps stores apart', async () => {
    const one = open<string>(newStore());
    const two = open<string>(newStore());
    await one.putData(['x']);
    expect(await two.stats()).toMatchObject({ ready: 0 });
  });

  it('gives a dead-letter queue its own state within the same store', async () => {
    const store = newStore();
    const queue = open<string>(store, 'q', { visTimeout: 1, useDead: true });
    await queue.putData(['poison']);
    await queue.getData();
    advanceClock(store, 2_000);
    expect(await queue.stats()).toMatchObject({ ready: 0, inflight: 0, dead: 1 });
    expect([...(await queue.dead.getData()).values()]).toEqual(['poison']);
    expect(await open(store, 'q').stats()).toMatchObject({ dead: 0 });
  });

  it('follows the test clock hook keyed on the store object', async () => {
    const store = newStore();
    const queue = open<string>(store, 'q', { visTimeout: 10, attempts: 2 });
    freezeClock(store, 1_000_000);
    await queue.putData(['later'], { delay: 5 });
    expect(await queue.stats()).toMatchObject({ ready: 0, delayed: 1 });
    advanceClock(store, 5_000);
    const [first] = await queue.getDeliveries();
    expect(first?.delivery).toBe(1);
    advanceClock(store, 9_999);
    expect(await queue.getData()).toEqual(new Map());
    advanceClock(store, 1);
    const [second] = await queue.getDeliveries();
    expect(second?.delivery).toBe(2);
    expect(await queue.doneData([first?.lease ?? ''])).toBe(0);
  });

  it('starts a new id epoch after clear, so older leases never match', async () => {
    const store = newStore();
    const queue = open<string>(store, 'q', { visTimeout: 30 });
    const [before] = await queue.putData(['a']);
    const [old] = await queue.getDeliveries();
    await queue.clear();
    const [after] = await queue.putData(['b']);
    expect(after).not.toBe(before);
    await queue.getData();
    expect(await queue.doneData([old?.lease ?? ''])).toBe(0);
    expect(await queue.stats()).toMatchObject({ inflight: 1 });
  });
});

describe('MemoryStore blocking waits', () => {
  it('wakes a blocked getData on a put', async () => {
    const store = newStore();
    const reader = open<string>(store);
    const writer = open<string>(store);
    expect(await readWokenBy(() => reader.getData(1, { wait: 60 }), () => writer.putData(['wake']))).toEqual(['wake']);
  });

  it('does not miss a put made between the read and the wait', async () => {
    const store = newStore();
    const backend = store.open('{visq:q}');
    const { deliveries, cursor } = await backend.read({ count: 1, visTimeoutMs: 0, attempts: 1, useDead: false });
    expect(deliveries).toEqual([]);
    await backend.put({ payloads: ['1'], delayMs: 0, priority: 0, ttlMs: 0 });
    expect(await settled(backend.waitForChange(cursor, 60_000))).toBeUndefined();
  });

  it('wakes readers of one queue only', async () => {
    const store = newStore();
    const quiet = open<string>(store, 'quiet');
    const controller = new AbortController();
    const got = quiet.getData(1, { wait: 60, signal: controller.signal });
    await tick();
    await open<string>(store, 'busy').putData(['elsewhere']);
    expect(await settled(got, 50)).toBe('still pending');
    controller.abort();
    expect(await got).toEqual(new Map());
  });

  it('wakes a blocked reader when a release makes an item visible', async () => {
    const store = newStore();
    const queue = open<string>(store, 'q', { visTimeout: 60, attempts: 3 });
    await queue.putData(['again']);
    const held = await queue.getData();
    expect(await readWokenBy(() => queue.getData(1, { wait: 60 }), () => queue.releaseData(held))).toEqual(['again']);
  });

  it('wakes a blocked dead-letter reader when an item is dead-lettered', async () => {
    const store = newStore();
    const queue = open<string>(store, 'q', { visTimeout: 60, useDead: true });
    await queue.putData(['poison']);
    const held = await queue.getData();
    expect(await readWokenBy(() => queue.dead.getData(1, { wait: 60 }), () => queue.releaseData(held))).toEqual(['poison']);
  });

  it('wakes a blocked reader on redrive', async () => {
    const store = newStore();
    const queue = open<string>(store, 'q', { visTimeout: 60, useDead: true });
    await queue.putData(['back']);
    await queue.releaseData(await queue.getData());
    expect(await readWokenBy(() => queue.getData(1, { wait: 60 }), () => queue.redrive())).toEqual(['back']);
  });

  it('ends a wait on abort', async () => {
    const queue = open<string>(newStore());
    const controller = new AbortController();
    const got = queue.getData(1, { wait: 60, signal: controller.signal });
    await tick();
    controller.abort();
    expect(await settled(got)).toEqual(new Map());
  });

  it('ends pending waits on close, clears their timers, and refuses later calls', async () => {
    const store = new MemoryStore();
    const queue = open<string>(store);
    const idle = timers();
    const got = queue.getData(1, { wait: 60 });
    await tick();
    expect(timers()).toBeGreaterThan(idle);
    await store.close();
    await expect(settled(got)).rejects.toBeInstanceOf(ClosedError);
    expect(timers()).toBe(idle);
    await expect(queue.putData(['late'])).rejects.toBeInstanceOf(ClosedError);
    expect(await settled(store.open('{visq:q}').waitForChange('0', 60_000))).toBeUndefined();
  });
});

describe('MemoryStore at scale', () => {
  it('round-trips 100k items in order with leases and done', async () => {
    const store = newStore();
    const queue = open<number>(store, 'big', { visTimeout: 60 });
    const total = 100_000;
    const ids = await queue.putData(Array.from({ length: total }, (_, i) => i));
    expect(new Set(ids).size).toBe(total);
    let read = 0;
    let outOfOrder = 0;
    let finished = 0;
    await drain(queue, async (batch) => {
      for (const item of batch.values()) {
        if (item !== read) outOfOrder += 1;
        read += 1;
      }
      finished += await queue.doneData(batch);
    });
    expect(read).toBe(total);
    expect(outOfOrder).toBe(0);
    expect(finished).toBe(total);
    expect(await queue.stats()).toMatchObject({ ready: 0, delayed: 0, inflight: 0, dead: 0 });
  });

  it('orders 100k items of mixed priorities: higher first, then put order', async () => {
    const store = newStore();
    const queue = open<[number, number]>(store, 'mixed');
    const total = 100_000;
    for (let start = 0; start < total; start += 10_000) {
      const priority = (start / 10_000) % 3;
      await queue.putData(
        Array.from({ length: 10_000 }, (_, i): [number, number] => [priority, start + i]),
        { priority },
      );
    }
    let previous: [number, number] = [Number.POSITIVE_INFINITY, -1];
    let read = 0;
    let outOfOrder = 0;
    await drain(queue, (batch) => {
      for (const item of batch.values()) {
        const [priority, order] = item;
        if (!(priority < previous[0] || (priority === previous[0] && order > previous[1]))) outOfOrder += 1;
        previous = item;
        read += 1;
      }
    });
    expect(read).toBe(total);
    expect(outOfOrder).toBe(0);
  });

  it('expires 100k leases in one step and redelivers every item', async () => {
    const store = newStore();
    const queue = open<number>(store, 'expiring', { visTimeout: 10, attempts: 2 });
    const total = 100_000;
    await queue.putData(Array.from({ length: total }, (_, i) => i));
    await drain(queue, () => undefined);
    expect(await queue.stats()).toMatchObject({ ready: 0, inflight: total });
    advanceClock(store, 10_000);
    expect(await queue.stats()).toMatchObject({ ready: total, inflight: 0 });
    let redelivered = 0;
    for (let batch = await queue.getDeliveries(1000); batch.length > 0; batch = await queue.getDeliveries(1000)) {
      redelivered += batch.filter((delivery) => delivery.delivery === 2).length;
    }
    expect(redelivered).toBe(total);
  });
});

describe('dumpMemoryStore', () => {
  it('holds only the queues whose base contains the marker, and nothing for empty ones', async () => {
    const store = newStore();
    await open(store, 'kept', { prefix: 'mark' }).putData(['x']);
    await open(store, 'other', { prefix: 'elsewhere' }).putData(['y']);
    await open(store, 'empty', { prefix: 'mark' }).stats();
    expect(Object.keys(dumpMemoryStore(store, '{mark:'))).toEqual(['{mark:kept}']);
  });

  it('does not change when peeking or finishing a stale lease', async () => {
    const store = newStore();
    const queue = open<string>(store, 'q', { visTimeout: 30 });
    await queue.putData(['a', 'b', 'c'], { priority: 2 });
    await queue.putData(['d']);
    const held = await queue.getData();
    await queue.doneData(held);
    const before = dumpMemoryStore(store, '{visq:q}');
    await queue.peekData(3);
    expect(await queue.doneData(held)).toBe(0);
    expect(dumpMemoryStore(store, '{visq:q}')).toEqual(before);
  });
});

describe('MemoryStore against the Redis backend', () => {
  let server: RedisServer | undefined;
  let redis: Redis | undefined;
  beforeAll(async () => {
    server = await startRedisServer();
    redis = server.client();
  });
  afterAll(async () => {
    await server?.stop();
  });

  // ids and leases start with a per-epoch gen that differs between stores; the rest must match
  const sameShape = (text: string): string => text.replace(/^[0-9a-z]+-/, 'gen-');
  const seconds = fc.constantFrom(0, 0.001, 0.05, 0.1, 0.2, 1);
  const positive = fc.constantFrom(0.001, 0.05, 0.1, 0.2, 1);
  const picks = fc.array(fc.nat(30), { maxLength: 6 });
  const command = fc.oneof(
    fc.record({ op: fc.constant('put' as const), n: fc.integer({ min: 1, max: 4 }), delay: seconds, priority: fc.constantFrom(0, 0, 1, -1, 5), ttl: seconds }),
    fc.record({ op: fc.constant('get' as const), count: fc.integer({ min: 1, max: 4 }), visTimeout: seconds, reader: fc.constantFrom(0, 1), dead: fc.boolean() }),
    fc.record({ op: fc.constant('done' as const), picks }),
    fc.record({ op: fc.constant('refresh' as const), picks, visTimeout: positive }),
    fc.record({ op: fc.constant('release' as const), picks, delay: seconds, countDelivery: fc.boolean() }),
    fc.record({ op: fc.constant('fail' as const), picks, useDead: fc.boolean(), dead: fc.boolean() }),
    fc.record({ op: fc.constant('peek' as const), count: fc.integer({ min: 1, max: 5 }), dead: fc.boolean() }),
    fc.record({ op: fc.constant('stats' as const), dead: fc.boolean() }),
    fc.record({ op: fc.constant('redrive' as const), count: fc.option(fc.integer({ min: 1, max: 3 }), { nil: undefined }) }),
    fc.record({ op: fc.constant('wait' as const), ms: fc.oneof(fc.constantFrom(1, 49, 50, 51, 100, 200, 1000), fc.nat(1200)) }),
    fc.record({ op: fc.constant('inspect' as const), back: fc.nat(20) }),
    fc.record({ op: fc.constant('clear' as const) }),
  );
  const reader = fc.record({ attempts: fc.integer({ min: 1, max: 3 }), useDead: fc.boolean() });
  type Command = typeof command extends fc.Arbitrary<infer C> ? C : never;

  /** One side of the comparison: two readers of one queue on one store, and the leases they got. */
  interface Side {
    readonly clockKey: object;
    readonly readers: DataQueue<number>[];
    readonly leases: string[];
    readonly ids: string[];
  }

  function leasesOf(side: Side, picked: readonly number[]): string[] {
    const { leases } = side;
    return picked.map((back) => leases[leases.length - 1 - (back % Math.max(1, leases.length))] ?? 'none:1');
  }

  /** Runs one command on one side; the result in a form both stores must produce alike. */
  async function apply(side: Side, c: Command): Promise<unknown> {
    const [first, second] = side.readers as [DataQueue<number>, DataQueue<number>];
    const shapes = (leases: Iterable<string>): string[] => [...leases].map(sameShape).sort();
    switch (c.op) {
      case 'put': {
        const ids = await first.putData([1, 2, 3, 4].slice(0, c.n), { delay: c.delay, priority: c.priority, ttl: c.ttl });
        side.ids.push(...ids);
        return ids.map(sameShape);
      }
      case 'inspect': {
        const found = await first.inspect(side.ids[side.ids.length - 1 - (c.back % Math.max(1, side.ids.length))] ?? 'none');
        return found && { ...found, id: sameShape(found.id), lease: found.lease && sameShape(found.lease) };
      }
      case 'get': {
        const queue = c.dead ? first.dead : c.reader === 0 ? first : second;
        const got = await queue.getDeliveries(c.count, { visTimeout: c.visTimeout });
        // leases of the dead-letter queue too: done, refresh and release on the queue
        // leave them out (another queue's), fail on the dead-letter queue takes them
        if (c.visTimeout > 0) side.leases.push(...got.map((d) => d.lease));
        return got.map((d) => ({ ...d, lease: sameShape(d.lease), id: sameShape(d.id) }));
      }
      case 'done':
        return first.doneData(leasesOf(side, c.picks));
      case 'refresh':
        return shapes(await first.refreshData(leasesOf(side, c.picks), { visTimeout: c.visTimeout }));
      case 'release': {
        const { requeued, exhausted } = await second.releaseData(leasesOf(side, c.picks), { delay: c.delay, countDelivery: c.countDelivery });
        return [shapes(requeued), shapes(exhausted)];
      }
      case 'fail': {
        // a dead-letter queue refuses useDead: true; both stores must refuse alike
        const failed = (c.dead ? first.dead : first).failData(leasesOf(side, c.picks), { useDead: c.useDead });
        return failed.then(shapes, (error: Error) => `${error.name}: ${error.message}`);
      }
      case 'peek':
        return [...(await (c.dead ? first.dead : first).peekData(c.count))].map(([id, item]) => [sameShape(id), item]);
      case 'stats':
        return fullStats(await (c.dead ? first.dead : first).stats());
      case 'redrive':
        return first.redrive(c.count);
      case 'clear':
        return first.clear();
      case 'wait':
        advanceClock(side.clockKey, c.ms);
        return undefined;
    }
  }

  it('gives the same results for random workloads, step by step', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.tuple(reader, reader), fc.array(command, { minLength: 10, maxLength: 60, size: 'max' }), async (settings, commands) => {
        run += 1;
        const memory = new MemoryStore();
        const sides: Side[] = ([redis, memory] as (StoreLike & object)[]).map((store) => {
          freezeClock(store, 1_700_000_000_000);
          const readers = settings.map((options) => new DataQueue<number>(store, 'q', { prefix: `diff-${run}`, ...options }));
          return { clockKey: store, readers, leases: [], ids: [] };
        });
        const [onRedis, inMemory] = sides as [Side, Side];
        for (const [step, c] of commands.entries()) {
          expect(await apply(inMemory, c), `step ${step}: ${JSON.stringify(c)}`).toEqual(await apply(onRedis, c));
        }
        await memory.close();
      }),
      { numRuns: 150 },
    );
  }, 120_000);
});
