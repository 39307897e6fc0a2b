/**
 * Many consumers on one queue at once, in real time: each has its own connection and its
 * own DataQueue object, leases last 0.2 s, and some consumers crash, stall or hold items
 * past their lease. What is checked is only what the client can know for sure: the
 * moments a request was sent and its reply arrived (one monotonic clock, one process).
 * The Redis time of a call lies between the two, so a violation is reported only when
 * the timestamps prove it.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import type { Delivery } from '../../src/data/options.js';
import { DataQueue } from '../../src/data/queue.js';
import { useStore } from '../harness/context.js';

const ctx = useStore();

const VIS_TIMEOUT = 0.2;
const ATTEMPTS = 3;

/** Payloads say whether the item is one no consumer can ever finish (a poison message). */
interface Job {
  readonly n: number;
  readonly poison: boolean;
}

/** One delivery as its consumer saw it. */
interface Held {
  readonly consumer: string;
  readonly lease: string;
  readonly delivery: number;
  /** When the getData that returned it was answered. */
  readonly receivedAt: number;
  /** When each done / refresh that found it live was sent: the lease was live after then. */
  readonly confirmedLive: number[];
  done: boolean;
}

/** A small seeded PRNG, so each consumer's choices repeat from run to run. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Every delivery of every item, and the checks that need all of them. */
class Ledger {
  readonly #byItem = new Map<string, Held[]>();

  record(consumer: string, deliveries: Delivery<Job>[], receivedAt: number): Held[] {
    return deliveries.map(({ id, lease, delivery }) => {
      const held: Held = { consumer, lease, delivery, receivedAt, confirmedLive: [], done: false };
      const history = this.#byItem.get(id) ?? [];
      history.push(held);
      this.#byItem.set(id, history);
      return held;
    });
  }

  get deliveries(): Map<string, readonly Held[]> {
    return this.#byItem;
  }

  /**
   * Two holders at once would show as a lease confirmed live by a call sent after the
   * next delivery of its item had already been received.
   */
  expectOneHolderAtATime(): void {
    for (const [id, history] of this.#byItem) {
      const ordered = [...history].sort((a, b) => a.delivery - b.delivery);
      for (let k = 0; k + 1 < ordered.length; k += 1) {
        const older = ordered[k] as Held;
        const newer = ordered[k + 1] as Held;
        const lastLive = Math.max(...older.confirmedLive, Number.NEGATIVE_INFINITY);
        expect(lastLive, `${id}: ${older.lease} was live after ${newer.lease} was handed out`).toBeLessThanOrEqual(newer.receivedAt);
      }
    }
  }
}

interface ConsumerPlan {
  readonly name: string;
  /** Chance to crash while holding a batch (never finishing it) and start over. */
  readonly crash: number;
  /** Chance to stall past the lease before calling done on a batch. */
  readonly stall: number;
  /** Keeps its leases alive by refreshing while it works long. */
  readonly refreshes: boolean;
  readonly batch: number;
  readonly seed: number;
}

/**
 * Runs one consumer until `stop()` says the queue is settled. It may crash holding a
 * batch (abandoning all of it); otherwise it finishes its batch, maybe after stalling
 * or working long under refreshes, except poisoned items, which it never finishes.
 */
async function consume(queue: DataQueue<Job>, plan: ConsumerPlan, ledger: Ledger, stop: () => boolean): Promise<void> {
  const next = random(plan.seed);
  while (!stop()) {
    const got = await queue.getDeliveries(plan.batch, { visTimeout: VIS_TIMEOUT, wait: 0.05 });
    const held = ledger.record(plan.name, got, performance.now());
    if (held.length === 0) continue;
    if (next() < plan.crash) continue;
    let mine = held.filter((_, i) => !got[i]?.item.poison);
    if (plan.refreshes) {
      // work for 1.5 leases, refreshing about every third of one; keep only what came back
      for (let step = 0; step < 5 && mine.length > 0; step += 1) {
        await sleep(60);
        const sentAt = performance.now();
        const refreshed = await queue.refreshData(mine.map((h) => h.lease), { visTimeout: VIS_TIMEOUT });
        mine = mine.filter((h) => refreshed.has(h.lease));
        for (const h of mine) h.confirmedLive.push(sentAt);
      }
    } else if (next() < plan.stall) {
      await sleep(VIS_TIMEOUT * 1000 * 1.5);
    } else {
      await sleep(Math.floor(next() * 10));
    }
    // one done per lease, so that each success is known to belong to its lease
    await Promise.all(
      mine.map(async (h) => {
        const sentAt = performance.now();
        const finished = await queue.doneData([h.lease]);
        if (finished === 1) {
          h.done = true;
          h.confirmedLive.push(sentAt);
        }
      }),
    );
  }
}

describe('many consumers on one queue at once', () => {
  it('never hands an item to a second consumer while the first holds it, and settles every item once', async () => {
    const name = 'shared';
    const options = { prefix: ctx.prefix, attempts: ATTEMPTS, useDead: true };
    const producer = new DataQueue<Job>(ctx.elsewhere(), name, options);
    const plans: ConsumerPlan[] = [
      { name: 'steady', crash: 0, stall: 0, refreshes: false, batch: 10, seed: 1 },
      { name: 'steady-small', crash: 0, stall: 0, refreshes: false, batch: 1, seed: 2 },
      { name: 'crashy', crash: 0.4, stall: 0, refreshes: false, batch: 5, seed: 3 },
      { name: 'staller', crash: 0, stall: 0.5, refreshes: false, batch: 4, seed: 4 },
      { name: 'refresher', crash: 0, stall: 0, refreshes: true, batch: 3, seed: 5 },
      { name: 'crashy-staller', crash: 0.3, stall: 0.3, refreshes: false, batch: 7, seed: 6 },
    ];
    const consumers = plans.map((plan) => ({ plan, queue: new DataQueue<Job>(ctx.elsewhere(), name, options) }));
    const ledger = new Ledger();

    let settled = false;
    const running = consumers.map(({ plan, queue }) => consume(queue, plan, ledger, () => settled));

    // items arrive while the consumers run; every 25th is poison and can never be done
    const put: string[] = [];
    for (let chunk = 0; chunk < 10; chunk += 1) {
      const jobs = Array.from({ length: 30 }, (_, i) => {
        const n = chunk * 30 + i;
        return { n, poison: n % 25 === 0 };
      });
      const ids = await producer.putData(jobs);
      put.push(...ids);
      await sleep(20);
    }
    // settled: nothing ready, delayed or in flight any more (stats runs the expiries first);
    // the polls are bounded so that a queue that never settles fails the checks below
    for (let poll = 0; poll < 200; poll += 1) {
      const { ready, delayed, inflight } = await producer.stats();
      if (ready + delayed + inflight === 0) break;
      await sleep(50);
    }
    settled = true;
    await Promise.all(running);

    ledger.expectOneHolderAtATime();

    const dead = new Set((await producer.dead.peekData(1000)).keys());
    const stats = await producer.stats();
    expect(stats).toMatchObject({ ready: 0, delayed: 0, inflight: 0, dropped: 0, expired: 0, dead: dead.size });
    for (const id of put) {
      const history = ledger.deliveries.get(id) ?? [];
      const numbers = history.map((h) => h.delivery).sort((a, b) => a - b);
      // every delivery number from 1 up, each once: no delivery was handed out twice
      expect(numbers, id).toEqual(numbers.map((_, i) => i + 1));
      const dones = history.filter((h) => h.done);
      if (dead.has(id)) {
        expect(dones, `${id} was done and dead-lettered`).toEqual([]);
        expect(numbers.length, `${id} dead-lettered after ${numbers.length} deliveries`).toBe(ATTEMPTS);
      } else {
        expect(dones.length, `${id} done ${dones.length} times`).toBe(1);
        // the done was the last delivery: a done item is never handed out again
        expect(dones[0]?.delivery).toBe(numbers.length);
      }
    }
    // poison can only end in the dead letters; every item put was delivered
    const poisoned = put.filter((_, n) => n % 25 === 0);
    for (const id of poisoned) expect(dead.has(id), `poison ${id} not dead-lettered`).toBe(true);
    expect(new Set(ledger.deliveries.keys())).toEqual(new Set(put));

    await Promise.all([producer, ...consumers.map((c) => c.queue)].map((q) => q.close()));
  });

  it('hands each item to exactly one of many racing at-most-once readers', async () => {
    const name = 'at-most-once';
    const producer = new DataQueue<number>(ctx.elsewhere(), name, { prefix: ctx.prefix });
    const readers = Array.from({ length: 6 }, () => new DataQueue<number>(ctx.elsewhere(), name, { prefix: ctx.prefix }));
    const total = 600;
    const seen: string[] = [];
    let producing = true;

    const read = async (reader: DataQueue<number>, batch: number): Promise<void> => {
      for (;;) {
        const got = await reader.getData(batch, { wait: 0.05 });
        seen.push(...got.keys());
        if (got.size === 0 && !producing) return;
      }
    };
    const running = readers.map((reader, i) => read(reader, 1 + (i % 3) * 4));

    const put: string[] = [];
    for (let start = 0; start < total; start += 50) {
      const ids = await producer.putData(Array.from({ length: 50 }, (_, i) => start + i));
      put.push(...ids);
      await sleep(5);
    }
    producing = false;
    await Promise.all(running);

    expect(seen).toHaveLength(new Set(seen).size);
    expect(new Set(seen)).toEqual(new Set(put));
    expect(await producer.stats()).toMatchObject({ ready: 0, delayed: 0, inflight: 0 });
    await Promise.all([producer, ...readers].map((q) => q.close()));
  });
});
