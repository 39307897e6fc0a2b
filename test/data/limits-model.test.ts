/**
 * Model-based test of rate limits, in-flight caps and pauses: random puts, reads by two
 * readers, dones, pauses and clock moves run against the store and against a small
 * reference model of the GCRA bucket, the leases and the pause, compared step by step.
 * Every read must deliver exactly what the model allows: never more than the tokens,
 * the free slots or the visible items, and no fewer.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DataQueue } from '../../src/data/queue.js';
import { useStore } from '../harness/context.js';

const ctx = useStore();

const START_MS = 1_700_000_000_000;

interface Limits {
  readonly perSecond: number;
  readonly burst: number;
  readonly maxInflight: number | undefined;
}

type Command =
  | { readonly op: 'put'; readonly n: number }
  | { readonly op: 'get'; readonly reader: 0 | 1; readonly count: number; readonly visTimeout: number }
  | { readonly op: 'done'; readonly back: number }
  | { readonly op: 'pause'; readonly seconds: number }
  | { readonly op: 'wait'; readonly ms: number };

/** The reference: counts, not items (every item is alike here), in whole µs as the stores keep the bucket. */
class LimitModel {
  visible = 0;
  /** Lease -> deadline (ms). */
  readonly leases = new Map<string, number>();
  #tatUs = 0;
  #pausedUntil = 0;
  readonly #intervalUs: number;
  readonly #burst: number;
  readonly #cap: number;

  constructor(limits: Limits) {
    this.#intervalUs = Math.max(1, Math.round(1e6 / limits.perSecond));
    this.#burst = limits.burst;
    this.#cap = limits.maxInflight ?? Number.POSITIVE_INFINITY;
  }

  /** How many items a read of `count` at `now` gets; takes them. */
  read(count: number, now: number): number {
    for (const [lease, deadline] of this.leases) {
      if (deadline <= now) {
        this.leases.delete(lease);
        this.visible += 1;
      }
    }
    if (this.#pausedUntil > now) return 0;
    const nowUs = now * 1000;
    const tat = Math.max(this.#tatUs, nowUs);
    const tokens = Math.floor((nowUs + this.#burst * this.#intervalUs - tat) / this.#intervalUs);
    const free = this.#cap - this.leases.size;
    const got = Math.max(0, Math.min(count, this.visible, free, tokens));
    if (got > 0) this.#tatUs = tat + got * this.#intervalUs;
    this.visible -= got;
    return got;
  }

  pause(seconds: number, now: number): void {
    this.#pausedUntil = seconds > 0 ? now + Math.ceil(seconds * 1000) : 0;
  }
}

const limitsArb: fc.Arbitrary<Limits> = fc.record({
  perSecond: fc.constantFrom(0.5, 3, 10, 7.5, 200),
  burst: fc.integer({ min: 1, max: 8 }),
  maxInflight: fc.option(fc.integer({ min: 1, max: 6 }), { nil: undefined }),
});

const command: fc.Arbitrary<Command> = fc.oneof(
  { weight: 2, arbitrary: fc.record({ op: fc.constant('put' as const), n: fc.integer({ min: 1, max: 6 }) }) },
  {
    weight: 4,
    arbitrary: fc.record({
      op: fc.constant('get' as const),
      reader: fc.constantFrom(0 as const, 1 as const),
      count: fc.integer({ min: 1, max: 10 }),
      visTimeout: fc.constantFrom(0.1, 0.5, 2),
    }),
  },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('done' as const), back: fc.nat(6) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('pause' as const), seconds: fc.constantFrom(0, 0.2, 0.35) }) },
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant('wait' as const),
      ms: fc.oneof(fc.constantFrom(1, 99, 100, 101, 333, 334, 500, 2000), fc.integer({ min: 0, max: 800 })),
    }),
  },
);

let runs = 0;

async function runScenario(limits: Limits, commands: readonly Command[]): Promise<void> {
  runs += 1;
  let now = START_MS + runs * 10_000_000;
  ctx.freeze(now);
  const options = {
    prefix: ctx.prefix,
    attempts: 1000,
    rateLimit: { perSecond: limits.perSecond, burst: limits.burst },
    ...(limits.maxInflight === undefined ? {} : { maxInflight: limits.maxInflight }),
  };
  const name = `q${runs}`;
  const readers = [new DataQueue<number>(ctx.store, name, options), new DataQueue<number>(ctx.store, name, options)] as const;
  const model = new LimitModel(limits);
  const issued: string[] = [];
  try {
    for (const cmd of commands) {
      switch (cmd.op) {
        case 'put':
          await readers[0].putData(Array.from({ length: cmd.n }, (_, i) => i));
          model.visible += cmd.n;
          break;
        case 'get': {
          const got = await readers[cmd.reader].getData(cmd.count, { visTimeout: cmd.visTimeout });
          const expected = model.read(cmd.count, now);
          expect(got.size, `read of ${cmd.count} at +${now - START_MS} ms`).toBe(expected);
          for (const lease of got.keys()) {
            issued.push(lease);
            model.leases.set(lease, now + Math.ceil(cmd.visTimeout * 1000));
          }
          break;
        }
        case 'done': {
          const lease = issued[issued.length - 1 - cmd.back];
          if (lease === undefined) break;
          const live = (model.leases.get(lease) ?? 0) > now;
          expect(await readers[0].doneData([lease])).toBe(live ? 1 : 0);
          // an expired lease stays in the model until a read requeues its item
          if (live) model.leases.delete(lease);
          break;
        }
        case 'pause':
          await readers[1].limit(cmd.seconds);
          model.pause(cmd.seconds, now);
          break;
        case 'wait':
          now += cmd.ms;
          ctx.advance(cmd.ms / 1000);
          break;
      }
    }
  } finally {
    await readers[0].clear();
    await Promise.all(readers.map((reader) => reader.close()));
  }
}

describe('limits against the reference model', () => {
  it('delivers exactly what the tokens, the free slots and the pause allow, on every step', async () => {
    await fc.assert(
      fc.asyncProperty(limitsArb, fc.array(command, { minLength: 1, maxLength: 40 }), runScenario),
      { numRuns: 150 },
    );
  }, 120_000);
});
