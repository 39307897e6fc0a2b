/**
 * Model-based test of deduplicated puts: random put / get / done / fail / advance-time
 * sequences against a small reference model of the queue and its dedupe keys, with the
 * store's clock frozen and moved by the test. Every put's answers (new or duplicate, and
 * the holder's id) and every dq.dedupe.get must be exactly the model's; under
 * until: 'done' with a cap longer than the run, a key never has two live items.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DataQueue } from '../../src/data/queue.js';
import { useStore } from '../harness/context.js';

const ctx = useStore();
const START_MS = 1_700_000_000_000;
const KEYS = ['a', 'b', 'c', 'd'] as const;

interface Scenario {
  readonly until: 'window' | 'done';
  /** seconds */
  readonly window: number;
  readonly attempts: number;
  readonly useDead: boolean;
  readonly commands: readonly Command[];
}

type Command =
  | { readonly op: 'put'; readonly keys: readonly string[]; readonly ttl: number }
  | { readonly op: 'get'; readonly count: number; readonly visTimeout: number }
  | { readonly op: 'done'; readonly back: number }
  | { readonly op: 'fail'; readonly back: number; readonly useDead: boolean }
  | { readonly op: 'wait'; readonly ms: number }
  | { readonly op: 'lookup'; readonly key: string };

/** An item as the model sees it. */
interface ModelItem {
  readonly n: number;
  readonly key: string;
  /** ms; 0 for none */
  readonly ttlMs: number;
  deliveries: number;
  state: 'visible' | 'leased' | 'gone';
  visibleSince: number;
  deadline: number;
  /** The delivery number of the live lease. */
  lease: number;
}

interface ModelHolder {
  readonly n: number;
  readonly expiresAt: number;
}

class Model {
  readonly items: ModelItem[] = [];
  readonly holders = new Map<string, ModelHolder>();
  readonly #s: Scenario;

  constructor(scenario: Scenario) {
    this.#s = scenario;
  }

  /** Leases ended by time, then ttl expiry, as maintenance runs them. */
  settle(now: number): void {
    for (const item of this.items) {
      if (item.state === 'leased' && item.deadline <= now) {
        item.deliveries += 1;
        if (item.deliveries >= this.#s.attempts) item.state = 'gone';
        else {
          item.state = 'visible';
          item.visibleSince = item.deadline;
        }
      }
    }
    for (const item of this.items) {
      if (item.state === 'visible' && item.ttlMs > 0 && item.visibleSince + item.ttlMs <= now) item.state = 'gone';
    }
  }

  holder(key: string, now: number): ModelHolder | undefined {
    const holder = this.holders.get(key);
    if (!holder || holder.expiresAt <= now) return undefined;
    if (this.#s.until === 'done' && this.items[holder.n]?.state === 'gone') return undefined;
    return holder;
  }

  /** Per key: the holder's item number and whether it is a duplicate. */
  put(keys: readonly string[], ttlMs: number, now: number): { n: number; duplicate: boolean }[] {
    this.settle(now);
    return keys.map((key) => {
      const holder = this.holder(key, now);
      if (holder) return { n: holder.n, duplicate: true };
      const n = this.items.length;
      this.items.push({ n, key, ttlMs, deliveries: 0, state: 'visible', visibleSince: now, deadline: 0, lease: 0 });
      this.holders.set(key, { n, expiresAt: now + this.#s.window * 1000 });
      return { n, duplicate: false };
    });
  }

  /** Item numbers delivered, oldest first. */
  get(count: number, visMs: number, now: number): ModelItem[] {
    this.settle(now);
    const visible = this.items.filter((item) => item.state === 'visible').slice(0, count);
    for (const item of visible) {
      if (visMs === 0) item.state = 'gone';
      else {
        item.state = 'leased';
        item.deadline = now + visMs;
        item.lease = item.deliveries + 1;
      }
    }
    return visible;
  }

  isLive(n: number, delivery: number, now: number): boolean {
    const item = this.items[n];
    return item !== undefined && item.state === 'leased' && item.lease === delivery && item.deadline > now;
  }

  end(n: number, delivery: number, now: number): boolean {
    this.settle(now);
    if (!this.isLive(n, delivery, now)) return false;
    (this.items[n] as ModelItem).state = 'gone';
    return true;
  }
}

const command: fc.Arbitrary<Command> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      op: fc.constant('put' as const),
      keys: fc.array(fc.constantFrom(...KEYS), { minLength: 1, maxLength: 4 }),
      ttl: fc.constantFrom(0, 0, 0, 0.15),
    }),
  },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('get' as const), count: fc.integer({ min: 1, max: 3 }), visTimeout: fc.constantFrom(0, 0.1, 0.3) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('done' as const), back: fc.nat(4) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('fail' as const), back: fc.nat(4), useDead: fc.boolean() }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('wait' as const), ms: fc.constantFrom(1, 50, 99, 100, 101, 150, 250, 300) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('lookup' as const), key: fc.constantFrom(...KEYS) }) },
);

const scenario: fc.Arbitrary<Scenario> = fc.record({
  until: fc.constantFrom('window' as const, 'done' as const),
  window: fc.constantFrom(0.1, 0.25, 1000),
  attempts: fc.integer({ min: 1, max: 3 }),
  useDead: fc.boolean(),
  commands: fc.array(command, { minLength: 1, maxLength: 30 }),
});

let runs = 0;

async function run(s: Scenario): Promise<void> {
  runs += 1;
  let now = START_MS;
  ctx.freeze(now);
  const queue = new DataQueue<{ n: number }>(ctx.store, `dedupe-model-${runs}`, {
    prefix: ctx.prefix,
    attempts: s.attempts,
    useDead: s.useDead,
  });
  const model = new Model(s);
  const idOf: string[] = [];
  /** Leases issued, newest last: the real lease and the model's (item, delivery). */
  const leases: { lease: string; n: number; delivery: number }[] = [];
  const dedupe = { key: (item: { n: number; key: string }) => item.key, window: s.window, until: s.until };
  try {
    for (const cmd of s.commands) {
      switch (cmd.op) {
        case 'put': {
          const items = cmd.keys.map((key, i) => ({ n: model.items.length + i, key }));
          const got = await queue.putData(items as never[], { ttl: cmd.ttl === 0 ? undefined : cmd.ttl, dedupe: dedupe as never });
          const want = model.put(cmd.keys, cmd.ttl * 1000, now);
          want.forEach((answer, i) => {
            if (!answer.duplicate) idOf[answer.n] = (got[i] as { id: string }).id;
          });
          expect(got).toEqual(want.map((answer) => ({ id: idOf[answer.n], duplicate: answer.duplicate })));
          break;
        }
        case 'get': {
          const got = await queue.getDeliveries(cmd.count, { visTimeout: cmd.visTimeout });
          const want = model.get(cmd.count, cmd.visTimeout * 1000, now);
          expect(got.map((d) => d.id)).toEqual(want.map((item) => idOf[item.n]));
          if (cmd.visTimeout > 0) want.forEach((item, i) => leases.push({ lease: (got[i] as { lease: string }).lease, n: item.n, delivery: item.lease }));
          break;
        }
        case 'done':
        case 'fail': {
          const pick = leases[leases.length - 1 - cmd.back];
          if (!pick) break;
          const ended = model.end(pick.n, pick.delivery, now);
          if (cmd.op === 'done') expect(await queue.doneData([pick.lease])).toBe(ended ? 1 : 0);
          else expect((await queue.failData([pick.lease], { useDead: cmd.useDead })).size).toBe(ended ? 1 : 0);
          break;
        }
        case 'wait':
          now += cmd.ms;
          ctx.freeze(now);
          break;
        case 'lookup': {
          model.settle(now);
          const holder = model.holder(cmd.key, now);
          expect(await queue.dedupe.get(cmd.key)).toEqual(
            holder && { id: idOf[holder.n], expiresAt: new Date(holder.expiresAt), until: s.until },
          );
          break;
        }
      }
      if (s.until === 'done' && s.window === 1000) {
        // a key never has two live items while its cap has not passed
        const live = model.items.filter((item) => item.state !== 'gone').map((item) => item.key);
        expect(new Set(live).size).toBe(live.length);
      }
    }
  } finally {
    await queue.clear();
    await queue.close();
  }
}

describe('deduplicated puts against the reference model', () => {
  it('answers every put and lookup as the model does', async () => {
    await fc.assert(fc.asyncProperty(scenario, run), { numRuns: ctx.kind === 'memory' ? 300 : 100 });
  }, 120_000);
});
