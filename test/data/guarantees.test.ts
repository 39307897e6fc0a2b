/**
 * The four delivery guarantees of docs/guarantees.md, each proven by a fast-check property over
 * random workloads on real Redis. The script clock is frozen and moved by the test, so
 * every lease deadline is known exactly; each property keeps only the bookkeeping its
 * guarantee needs (the full semantics are checked against the model in model.test.ts).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DataQueue } from '../../src/data/queue.js';
import { useStore } from '../harness/context.js';
import { fullStats } from '../harness/stats.js';
import { toMs } from './reference-model.js';

const ctx = useStore();

const START_MS = 1_700_000_000_000;
/** Every property run takes a few ms; this leaves room for a busy machine. */
const PROPERTY_TIMEOUT_MS = 60_000;

let queues = 0;

/** A fresh queue name for each property run, at the start of a frozen clock. */
function freshQueue<T>(options: ConstructorParameters<typeof DataQueue>[2] = {}): { queue: DataQueue<T>; name: string } {
  queues += 1;
  const name = `q${queues}`;
  ctx.freeze(START_MS);
  return { queue: new DataQueue<T>(ctx.store, name, { prefix: ctx.prefix, ...options }), name };
}

const seconds = fc.constantFrom(0.001, 0.05, 0.1, 0.3, 1);
const waitMs = fc.oneof(fc.constantFrom(1, 50, 99, 100, 101, 300, 1000), fc.integer({ min: 0, max: 1500 }));
// mostly the default priority, where the fast path and returning items must interleave by seq
const priority = fc.oneof(
  { weight: 3, arbitrary: fc.constant(0) },
  { weight: 2, arbitrary: fc.integer({ min: -2, max: 2 }) },
  { weight: 1, arbitrary: fc.constantFrom(-1000, 1000) },
);

describe('Guarantee 1: every item is done by its current lease holder or delivered exactly `attempts` times then dead-lettered/dropped', () => {
  /** What a consumer does with one delivery. */
  type Fate = 'done' | 'release' | 'abandon' | 'refresh';
  type Step =
    | { readonly kind: 'put'; readonly n: number; readonly priority: number; readonly delay: number }
    | { readonly kind: 'get'; readonly count: number; readonly fates: readonly Fate[] }
    /** A consumer that held a lease a while finishes it: live or stale, whatever time did. */
    | { readonly kind: 'finishHeld'; readonly back: number }
    | { readonly kind: 'wait'; readonly ms: number };

  const workload = fc.record({
    attempts: fc.integer({ min: 1, max: 4 }),
    useDead: fc.boolean(),
    visTimeout: fc.constantFrom(0.05, 0.1, 0.3),
    steps: fc.array<Step>(
      fc.oneof(
        fc.record({
          kind: fc.constant('put' as const),
          n: fc.integer({ min: 1, max: 5 }),
          priority,
          delay: fc.oneof(fc.constant(0), seconds),
        }),
        fc.record({
          kind: fc.constant('get' as const),
          count: fc.integer({ min: 1, max: 5 }),
          fates: fc.array(fc.constantFrom<Fate>('done', 'release', 'abandon', 'refresh'), { minLength: 1, maxLength: 5 }),
        }),
        fc.record({ kind: fc.constant('finishHeld' as const), back: fc.nat(5) }),
        fc.record({ kind: fc.constant('wait' as const), ms: waitMs }),
      ),
      { maxLength: 40, size: 'max' },
    ),
  });

  interface History {
    /** Delivery numbers as getData reported them, in the order they happened. */
    readonly deliveries: number[];
    /** Leases, in the same order. */
    readonly leases: string[];
    /** The leases whose done returned 1 for this item. */
    readonly doneBy: string[];
  }

  it('holds for random workloads of consumers that finish, fail, refresh or vanish', async () => {
    await fc.assert(
      fc.asyncProperty(workload, async ({ attempts, useDead, visTimeout, steps }) => {
        const { queue } = freshQueue<number>({ attempts, useDead, visTimeout });
        let now = START_MS;
        let nextItem = 0;
        const history = new Map<string, History>();
        const held: string[] = [];

        const deliver = async (count: number): Promise<{ id: string; lease: string; delivery: number }[]> => {
          const got = await queue.getDeliveries(count);
          for (const { id, lease, delivery } of got) {
            const h = history.get(id);
            if (!h) throw new Error(`delivered an item never put: ${id}`);
            h.deliveries.push(delivery);
            h.leases.push(lease);
          }
          return got;
        };
        const finish = async (id: string, lease: string): Promise<void> => {
          const finished = await queue.doneData([lease]);
          if (finished === 1) history.get(id)?.doneBy.push(lease);
        };

        for (const step of steps) {
          switch (step.kind) {
            case 'put': {
              const items = Array.from({ length: step.n }, () => nextItem++);
              const ids = await queue.putData(items, { priority: step.priority, delay: step.delay });
              for (const id of ids) history.set(id, { deliveries: [], leases: [], doneBy: [] });
              break;
            }
            case 'get': {
              const got = await deliver(step.count);
              for (const [i, { id, lease, delivery }] of got.entries()) {
                const fate = step.fates[i % step.fates.length] as Fate;
                if (fate === 'done') {
                  await finish(id, lease);
                  // the lease was issued at this very ms: it is live, so done must finish it
                  expect(history.get(id)?.doneBy).toEqual([lease]);
                } else if (fate === 'release') {
                  const { requeued, exhausted } = await queue.releaseData([lease]);
                  expect([...(delivery === attempts ? exhausted : requeued)]).toEqual([lease]);
                } else {
                  if (fate === 'refresh') expect(await queue.refreshData([lease])).toEqual(new Set([lease]));
                  held.push(lease);
                }
              }
              break;
            }
            case 'finishHeld': {
              const lease = held[held.length - 1 - (step.back % Math.max(held.length, 1))];
              if (lease) await finish(DataQueue.itemId(lease), lease);
              break;
            }
            case 'wait':
              now += step.ms;
              ctx.freeze(now);
              break;
          }
        }

        // Everyone else has vanished: a last consumer keeps reading and never finishes,
        // until nothing is left but what was done, dead-lettered or dropped.
        for (let round = 0; round <= attempts + 1; round += 1) {
          now += toMs(2);
          ctx.freeze(now);
          await deliver(1000);
        }
        now += toMs(2);
        ctx.freeze(now);
        const stats = await queue.stats();
        expect({ ready: stats.ready, delayed: stats.delayed, inflight: stats.inflight }).toEqual({ ready: 0, delayed: 0, inflight: 0 });

        const dead = new Set((await queue.dead.peekData(1000)).keys());
        const undone: string[] = [];
        for (const [id, { deliveries, leases, doneBy }] of history) {
          // delivery numbers count up by one: no delivery is skipped or repeated
          expect(deliveries).toEqual(deliveries.map((_, i) => i + 1));
          expect(deliveries.length).toBeLessThanOrEqual(attempts);
          if (doneBy.length > 0) {
            // done once, by the holder of the last delivery, and never delivered again
            expect(doneBy).toEqual([leases[leases.length - 1]]);
            expect(dead.has(id)).toBe(false);
          } else {
            expect(deliveries.length).toBe(attempts);
            undone.push(id);
          }
        }
        expect([...dead].sort()).toEqual(useDead ? undone.sort() : []);
        expect(stats.dead).toBe(useDead ? undone.length : 0);
        expect(stats.dropped).toBe(useDead ? 0 : undone.length);
      }),
      { numRuns: 150 },
    );
  }, PROPERTY_TIMEOUT_MS);
});

describe('Guarantee 2: two holders never hold the same item at once', () => {
  type Step =
    | { readonly kind: 'put'; readonly n: number }
    | { readonly kind: 'get'; readonly consumer: number; readonly count: number; readonly visTimeout: number }
    | { readonly kind: 'refresh' | 'done' | 'release'; readonly consumer: number; readonly back: number; readonly visTimeout: number }
    | { readonly kind: 'wait'; readonly ms: number };

  const consumer = fc.nat(2);
  const leaseStep = (kind: 'refresh' | 'done' | 'release') =>
    fc.record({ kind: fc.constant(kind), consumer, back: fc.nat(6), visTimeout: seconds });
  const workload = fc.record({
    attempts: fc.integer({ min: 1, max: 3 }),
    useDead: fc.boolean(),
    steps: fc.array<Step>(
      fc.oneof(
        { weight: 2, arbitrary: fc.record({ kind: fc.constant('put' as const), n: fc.integer({ min: 1, max: 4 }) }) },
        {
          weight: 3,
          arbitrary: fc.record({ kind: fc.constant('get' as const), consumer, count: fc.integer({ min: 1, max: 4 }), visTimeout: seconds }),
        },
        { weight: 2, arbitrary: leaseStep('refresh') },
        { weight: 2, arbitrary: leaseStep('done') },
        { weight: 1, arbitrary: leaseStep('release') },
        { weight: 3, arbitrary: fc.record({ kind: fc.constant('wait' as const), ms: waitMs }) },
      ),
      { maxLength: 50, size: 'max' },
    ),
  });

  /** One lease as its holder knows it: held until its deadline, or until it gave it up. */
  interface Holding {
    readonly id: string;
    readonly lease: string;
    heldUntil: number;
    /** Done or released: no longer live, whatever the deadline. */
    ended: boolean;
  }

  it('redelivers an item only after its lease ended, and the older lease is stale from then on', async () => {
    await fc.assert(
      fc.asyncProperty(workload, async ({ attempts, useDead, steps }) => {
        const { queue, name } = freshQueue<number>({ attempts, useDead });
        // three consumers, each with its own queue object
        const consumers = [queue, ...[1, 2].map(() => new DataQueue<number>(ctx.store, name, { prefix: ctx.prefix, attempts, useDead }))];
        const leasesOf: Holding[][] = consumers.map(() => []);
        const latest = new Map<string, Holding>();
        let now = START_MS;
        let nextItem = 0;

        const isLive = (h: Holding): boolean => latest.get(h.id) === h && !h.ended && h.heldUntil > now;
        const pick = (c: number, back: number): Holding | undefined => {
          const mine = leasesOf[c] as Holding[];
          return mine[mine.length - 1 - (back % Math.max(mine.length, 1))];
        };

        for (const step of steps) {
          if (step.kind === 'put') {
            await queue.putData(Array.from({ length: step.n }, () => nextItem++));
          } else if (step.kind === 'wait') {
            now += step.ms;
            ctx.freeze(now);
          } else if (step.kind === 'get') {
            const got = await (consumers[step.consumer] as DataQueue<number>).getDeliveries(step.count, { visTimeout: step.visTimeout });
            for (const { id, lease } of got) {
              const previous = latest.get(id);
              // the previous holder's lease must have ended by now
              if (previous) expect(previous.heldUntil, `${id} redelivered while ${previous.lease} was held`).toBeLessThanOrEqual(now);
              const holding = { id, lease, heldUntil: now + toMs(step.visTimeout), ended: false };
              latest.set(id, holding);
              leasesOf[step.consumer]?.push(holding);
            }
          } else {
            const holding = pick(step.consumer, step.back);
            if (!holding) continue;
            const live = isLive(holding);
            const c = consumers[step.consumer] as DataQueue<number>;
            // exactly the current, unexpired lease of an item acts; every older one is stale
            if (step.kind === 'refresh') {
              const refreshed = await c.refreshData([holding.lease], { visTimeout: step.visTimeout });
              expect(refreshed.has(holding.lease)).toBe(live);
              if (live) holding.heldUntil = now + toMs(step.visTimeout);
            } else if (step.kind === 'done') {
              expect(await c.doneData([holding.lease])).toBe(live ? 1 : 0);
              if (live) {
                // done for good: any later delivery would be a second holder
                holding.ended = true;
                holding.heldUntil = Number.POSITIVE_INFINITY;
              }
            } else {
              const { requeued, exhausted } = await c.releaseData([holding.lease]);
              expect(requeued.has(holding.lease) || exhausted.has(holding.lease)).toBe(live);
              if (live) {
                holding.ended = true;
                holding.heldUntil = now;
              }
            }
          }
        }
      }),
      { numRuns: 200 },
    );
  }, PROPERTY_TIMEOUT_MS);
});

describe('Guarantee 3: visTimeout 0 delivers each item at most once', () => {
  type Step =
    | { readonly kind: 'put'; readonly n: number; readonly priority: number; readonly delay: number; readonly ttl: number }
    /** Two consumers' reads in flight at once (on the one connection whose clock is frozen). */
    | { readonly kind: 'get'; readonly counts: readonly [number, number] }
    | { readonly kind: 'wait'; readonly ms: number };

  const workload = fc.array<Step>(
    fc.oneof(
      fc.record({
        kind: fc.constant('put' as const),
        n: fc.integer({ min: 1, max: 5 }),
        priority,
        delay: fc.oneof(fc.constant(0), seconds),
        ttl: fc.oneof(fc.constant(0), seconds),
      }),
      fc.record({ kind: fc.constant('get' as const), counts: fc.tuple(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 5 })) }),
      fc.record({ kind: fc.constant('wait' as const), ms: waitMs }),
    ),
    { maxLength: 40, size: 'max' },
  );

  it('never hands out an item twice, and every item is read once or expires', async () => {
    await fc.assert(
      fc.asyncProperty(workload, fc.integer({ min: 1, max: 3 }), async (steps, attempts) => {
        const { queue, name } = freshQueue<number>({ attempts });
        const other = new DataQueue<number>(ctx.store, name, { prefix: ctx.prefix, attempts });
        const put = new Set<string>();
        const delivered = new Set<string>();
        let now = START_MS;
        let nextItem = 0;

        const readAll = async (reads: Promise<Map<string, number>>[]): Promise<void> => {
          for (const got of await Promise.all(reads)) {
            for (const id of got.keys()) {
              expect(delivered.has(id), `${id} delivered twice`).toBe(false);
              expect(put.has(id)).toBe(true);
              delivered.add(id);
            }
          }
        };

        for (const step of steps) {
          if (step.kind === 'put') {
            const { delay, priority, ttl } = step;
            const ids = await queue.putData(Array.from({ length: step.n }, () => nextItem++), { delay, priority, ttl });
            for (const id of ids) put.add(id);
          } else if (step.kind === 'get') {
            await readAll([queue.getData(step.counts[0]), other.getData(step.counts[1])]);
          } else {
            now += step.ms;
            ctx.freeze(now);
          }
        }
        // long after: whatever was read never shows up again
        now += toMs(10);
        ctx.freeze(now);
        await readAll([queue.getData(1000)]);
        const stats = await queue.stats();
        expect(fullStats(stats)).toMatchObject({ ready: 0, delayed: 0, inflight: 0, dead: 0, expired: put.size - delivered.size, dropped: 0 });
      }),
      { numRuns: 150 },
    );
  }, PROPERTY_TIMEOUT_MS);
});

describe('Guarantee 4: higher priority first, then put order', () => {
  type Step =
    | { readonly kind: 'put'; readonly n: number; readonly priority: number; readonly delay: number }
    | { readonly kind: 'get'; readonly count: number; readonly visTimeout: number }
    /** Hands the latest held lease back, visible again after `delay`. */
    | { readonly kind: 'release'; readonly delay: number }
    | { readonly kind: 'wait'; readonly ms: number };

  const workload = fc.array<Step>(
    fc.oneof(
      {
        weight: 3,
        arbitrary: fc.record({
          kind: fc.constant('put' as const),
          n: fc.integer({ min: 1, max: 5 }),
          priority,
          delay: fc.oneof({ weight: 2, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: seconds }),
        }),
      },
      {
        weight: 3,
        arbitrary: fc.record({
          kind: fc.constant('get' as const),
          count: fc.integer({ min: 1, max: 5 }),
          visTimeout: fc.oneof(fc.constant(0), seconds),
        }),
      },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('release' as const), delay: fc.oneof(fc.constant(0), seconds) }) },
      { weight: 2, arbitrary: fc.record({ kind: fc.constant('wait' as const), ms: waitMs }) },
    ),
    { maxLength: 40, size: 'max' },
  );

  /** What the test knows of an item: its place in delivery order and when it can be read. */
  interface Known {
    readonly id: string;
    readonly priority: number;
    readonly putOrder: number;
    /** Visible from this ms on; a held item is visible again when its lease ends. */
    visibleFrom: number;
    gone: boolean;
  }

  it('delivers the visible items in that order, returning ones to their put-order place', async () => {
    await fc.assert(
      fc.asyncProperty(workload, async (steps) => {
        // attempts are plenty, so every item that is not read at-most-once comes back
        const { queue } = freshQueue<number>({ attempts: 1000 });
        const known = new Map<string, Known>();
        const held: { lease: string; item: Known }[] = [];
        let now = START_MS;
        let nextItem = 0;

        const expectedNext = (count: number): string[] =>
          [...known.values()]
            .filter((item) => !item.gone && item.visibleFrom <= now)
            .sort((a, b) => b.priority - a.priority || a.putOrder - b.putOrder)
            .slice(0, count)
            .map((item) => item.id);

        for (const step of steps) {
          if (step.kind === 'put') {
            const { delay, priority } = step;
            const ids = await queue.putData(Array.from({ length: step.n }, () => nextItem++), { delay, priority });
            for (const id of ids) {
              known.set(id, { id, priority: step.priority, putOrder: known.size, visibleFrom: now + toMs(step.delay), gone: false });
            }
          } else if (step.kind === 'get') {
            const expected = expectedNext(step.count);
            expect([...(await queue.peekData(step.count)).keys()]).toEqual(expected);
            const got = await queue.getData(step.count, { visTimeout: step.visTimeout });
            expect([...got.keys()].map((lease) => DataQueue.itemId(lease))).toEqual(expected);
            for (const lease of got.keys()) {
              const item = known.get(DataQueue.itemId(lease)) as Known;
              if (step.visTimeout === 0) {
                item.gone = true;
              } else {
                item.visibleFrom = now + toMs(step.visTimeout);
                held.push({ lease, item });
              }
            }
          } else if (step.kind === 'release') {
            const last = held.pop();
            if (!last) continue;
            const { requeued } = await queue.releaseData([last.lease], { delay: step.delay, countDelivery: false });
            if (requeued.has(last.lease)) last.item.visibleFrom = now + toMs(step.delay);
          } else {
            now += step.ms;
            ctx.freeze(now);
          }
        }
      }),
      { numRuns: 200 },
    );
  }, PROPERTY_TIMEOUT_MS);

  it('keeps priority order when more than 1000 delayed items come due at once', async () => {
    const { queue } = freshQueue<string>();
    await queue.putData(Array.from({ length: 1001 }, () => 'low'), { delay: 0.1 });
    await queue.putData(['high'], { delay: 0.1, priority: 5 });
    ctx.freeze(START_MS + 100);
    expect([...(await queue.getData(1)).values()]).toEqual(['high']);
  });

  it('keeps put order when more than 1000 read batches expire at once', async () => {
    const { queue } = freshQueue<string>({ visTimeout: 0.1, attempts: 2 });
    await queue.putData(['oldest'], { delay: 0.001 });
    await queue.putData(Array.from({ length: 1000 }, (_, i) => `newer ${i}`));
    for (let i = 0; i < 1000; i += 1) await queue.getData(1);
    ctx.freeze(START_MS + 1);
    expect([...(await queue.getData(1)).values()]).toEqual(['oldest']);
    // all 1001 leases have ended; the oldest item comes back first
    ctx.freeze(START_MS + 200);
    expect([...(await queue.getData(1)).values()]).toEqual(['oldest']);
  });
});
