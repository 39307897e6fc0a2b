/**
 * Model-based test of DataQueue: random sequences of operations run against real Redis
 * and against the reference model (reference-model.ts) and are compared step by step.
 * The clock the scripts see is frozen and moved only by the test, so Redis and the model
 * agree on the exact ms of every step.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Delivery } from '../../src/data/options.js';
import { DataQueue } from '../../src/data/queue.js';
import { useStore } from '../harness/context.js';
import { fullStats } from '../harness/stats.js';
import { ReferenceQueue, toMs, type ModelDelivery, type ReaderSettings } from './reference-model.js';

const ctx = useStore();

const START_MS = 1_700_000_000_000;

/** Item payloads carry their model id, so every read can be checked against the model. */
interface Payload {
  readonly n: number;
}

/** A lease handed to done/refresh/release/fail: one issued earlier, or a string that is no live lease here. */
type LeasePick =
  /** The `back`-th latest lease issued (0 = the latest): live, expired, done or redelivered. */
  | { readonly kind: 'issued'; readonly back: number }
  /** The item id of one issued lease with the entry of another: a forgery unless it names a real delivery. */
  | { readonly kind: 'spliced'; readonly idOf: number; readonly entryOf: number }
  /** A live lease of another queue on the same Redis. */
  | { readonly kind: 'foreign'; readonly index: number }
  | { readonly kind: 'forged'; readonly text: 'x:1' | 'garbage' | '' | ':1' | 'a:b:1' | 'unknown-entry' | 'item-id' };

type Command =
  | {
      readonly op: 'put';
      readonly n: number;
      readonly delay: number | undefined;
      readonly priority: number | undefined;
      readonly ttl: number | undefined;
    }
  | { readonly op: 'get'; readonly count: number; readonly visTimeout: number; readonly reader: number }
  | { readonly op: 'refresh'; readonly leases: readonly LeasePick[]; readonly visTimeout: number }
  | { readonly op: 'done'; readonly leases: readonly LeasePick[] }
  | { readonly op: 'release'; readonly leases: readonly LeasePick[]; readonly delay: number; readonly countDelivery: boolean }
  | { readonly op: 'fail'; readonly leases: readonly LeasePick[]; readonly useDead: boolean | undefined }
  | { readonly op: 'peek'; readonly count: number }
  | { readonly op: 'stats' }
  | { readonly op: 'redrive'; readonly count: number | undefined }
  | { readonly op: 'peekDead'; readonly count: number }
  | { readonly op: 'getDead'; readonly count: number }
  | { readonly op: 'wait'; readonly ms: number };

/** Two readers of one queue, with their own attempts / dead-letter settings, and what they do. */
interface Scenario {
  readonly readers: readonly [ReaderSettings, ReaderSettings];
  readonly commands: readonly Command[];
}

/** `arbitrary` one time in `1 + of`, else undefined (the option left out). */
function sometimes<T>(arbitrary: fc.Arbitrary<T>, of = 3): fc.Arbitrary<T | undefined> {
  return fc.oneof({ weight: of, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary });
}

// A handful of lease lengths and delays, so that random waits land exactly on deadlines,
// one ms before and one ms after them often enough.
const seconds = fc.constantFrom(0.001, 0.05, 0.1, 0.2, 0.3, 1);
const waitMs = fc.oneof(fc.constantFrom(1, 49, 50, 51, 100, 200, 299, 300, 301, 1000), fc.integer({ min: 0, max: 1200 }));

const leasePick: fc.Arbitrary<LeasePick> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('issued' as const), back: fc.nat(7) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('spliced' as const), idOf: fc.nat(7), entryOf: fc.nat(7) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('foreign' as const), index: fc.nat(1) }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('forged' as const),
      text: fc.constantFrom('x:1', 'garbage', '', ':1', 'a:b:1', 'unknown-entry', 'item-id'),
    }),
  },
);
const leasePicks = fc.array(leasePick, { minLength: 1, maxLength: 4 });

const command: fc.Arbitrary<Command> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      op: fc.constant('put' as const),
      n: fc.integer({ min: 1, max: 5 }),
      delay: sometimes(seconds),
      priority: sometimes(fc.oneof(fc.integer({ min: -2, max: 2 }), fc.constantFrom(-1000, 1000)), 1),
      ttl: sometimes(fc.constantFrom(0.05, 0.1, 0.3, 1, 2)),
    }),
  },
  {
    weight: 5,
    arbitrary: fc.record({
      op: fc.constant('get' as const),
      count: fc.integer({ min: 1, max: 5 }),
      visTimeout: fc.oneof({ weight: 1, arbitrary: fc.constant(0) }, { weight: 3, arbitrary: seconds }),
      reader: fc.nat(1),
    }),
  },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('refresh' as const), leases: leasePicks, visTimeout: seconds }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('done' as const), leases: leasePicks }) },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant('release' as const),
      leases: leasePicks,
      delay: fc.oneof(fc.constant(0), seconds),
      countDelivery: fc.boolean(),
    }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('fail' as const), leases: leasePicks, useDead: sometimes(fc.boolean(), 1) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('peek' as const), count: fc.integer({ min: 1, max: 5 }) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('stats' as const) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('redrive' as const), count: sometimes(fc.integer({ min: 1, max: 3 }), 1) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('peekDead' as const), count: fc.integer({ min: 1, max: 5 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('getDead' as const), count: fc.integer({ min: 1, max: 3 }) }) },
  { weight: 4, arbitrary: fc.record({ op: fc.constant('wait' as const), ms: waitMs }) },
);

const reader: fc.Arbitrary<ReaderSettings> = fc.record({ attempts: fc.integer({ min: 1, max: 3 }), useDead: fc.boolean() });

const scenario: fc.Arbitrary<Scenario> = fc.record({
  readers: fc.tuple(reader, reader),
  commands: fc.array(command, { minLength: 1, maxLength: 50, size: 'max' }),
});

/**
 * One scenario on a fresh queue, next to the model. Redis invents item ids and lease
 * strings; the run translates them to the model's item numbers and lease tokens.
 */
class ModelRun {
  readonly #model = new ReferenceQueue(START_MS);
  readonly #readers: readonly ReaderSettings[];
  readonly #queues: readonly DataQueue<Payload>[];
  readonly #queue: DataQueue<Payload>;
  readonly #foreign: string[];
  readonly #itemOf = new Map<string, number>();
  readonly #idOf = new Map<number, string>();
  readonly #tokenOf = new Map<string, number>();
  /** Leases Redis issued, oldest first. */
  readonly #issued: string[] = [];
  #nextItem = 0;
  #now = START_MS;

  private constructor(readers: readonly ReaderSettings[], queues: readonly DataQueue<Payload>[], foreign: string[]) {
    this.#readers = readers;
    this.#queues = queues;
    this.#queue = queues[0] as DataQueue<Payload>;
    this.#foreign = foreign;
  }

  static #runs = 0;

  static async start(readers: readonly ReaderSettings[]): Promise<ModelRun> {
    ModelRun.#runs += 1;
    const name = `model-${ModelRun.#runs}`;
    ctx.freeze(START_MS);
    const queues = readers.map(
      ({ attempts, useDead }) => new DataQueue<Payload>(ctx.store, name, { prefix: ctx.prefix, attempts, useDead }),
    );
    // live leases of another queue never count here, even where their entry numbers match ours
    const sibling = new DataQueue<Payload>(ctx.store, `${name}-sibling`, { prefix: ctx.prefix });
    await sibling.putData([{ n: -1 }, { n: -2 }]);
    const foreign = [...(await sibling.getData(2, { visTimeout: 1000 })).keys()];
    return new ModelRun(readers, queues, foreign);
  }

  async step(cmd: Command): Promise<void> {
    const model = this.#model;
    const now = this.#now;
    switch (cmd.op) {
      case 'put': {
        const items = Array.from({ length: cmd.n }, () => ({ n: this.#nextItem++ }));
        const ids = await this.#queue.putData(items, { delay: cmd.delay, priority: cmd.priority, ttl: cmd.ttl });
        expect(ids).toHaveLength(items.length);
        items.forEach((item, i) => this.#learnId(ids[i] as string, item.n));
        const opts = { delayMs: toMs(cmd.delay ?? 0), priority: cmd.priority ?? 0, ttlMs: toMs(cmd.ttl ?? 0) };
        model.put(items.map((item) => item.n), opts, now);
        return;
      }
      case 'get': {
        const got = await (this.#queues[cmd.reader] as DataQueue<Payload>).getDeliveries(cmd.count, { visTimeout: cmd.visTimeout });
        this.#expectDeliveries(got, model.get(cmd.count, toMs(cmd.visTimeout), this.#readers[cmd.reader] as ReaderSettings, now));
        return;
      }
      case 'refresh': {
        const { texts, tokens } = this.#leases(cmd.leases);
        const refreshed = await this.#queue.refreshData(texts, { visTimeout: cmd.visTimeout });
        expect(this.#tokens(refreshed)).toEqual(sortedTokens(model.refresh(tokens, toMs(cmd.visTimeout), now)));
        return;
      }
      case 'done': {
        const { texts, tokens } = this.#leases(cmd.leases);
        expect(await this.#queue.doneData(texts)).toBe(model.done(tokens, now));
        return;
      }
      case 'release': {
        const { texts, tokens } = this.#leases(cmd.leases);
        const got = await this.#queue.releaseData(texts, { delay: cmd.delay, countDelivery: cmd.countDelivery });
        const expected = model.release(tokens, { delayMs: toMs(cmd.delay), countDelivery: cmd.countDelivery }, now);
        expect({ requeued: this.#tokens(got.requeued), exhausted: this.#tokens(got.exhausted) }).toEqual({
          requeued: sortedTokens(expected.requeued),
          exhausted: sortedTokens(expected.exhausted),
        });
        return;
      }
      case 'fail': {
        const { texts, tokens } = this.#leases(cmd.leases);
        const ended = await this.#queue.failData(texts, { useDead: cmd.useDead });
        const useDead = cmd.useDead ?? (this.#readers[0] as ReaderSettings).useDead;
        expect(this.#tokens(ended)).toEqual(sortedTokens(model.fail(tokens, useDead, now)));
        return;
      }
      case 'peek':
        expect(this.#items(await this.#queue.peekData(cmd.count))).toEqual(model.peek(cmd.count, now));
        return;
      case 'stats':
        expect(fullStats(await this.#queue.stats())).toMatchObject(model.stats(now));
        return;
      case 'redrive':
        expect(await this.#queue.redrive(cmd.count)).toBe(model.redrive(cmd.count, now));
        return;
      case 'peekDead':
        expect(this.#items(await this.#queue.dead.peekData(cmd.count))).toEqual(model.peekDead(cmd.count, now));
        return;
      case 'getDead':
        this.#expectDeliveries(await this.#queue.dead.getDeliveries(cmd.count), model.getDead(cmd.count, now));
        return;
      case 'wait':
        this.#now += cmd.ms;
        ctx.freeze(this.#now);
        return;
    }
  }

  /** Everything observable at the end: counts, the queue in order, the dead letters in order. */
  async expectSameState(): Promise<void> {
    const now = this.#now;
    expect(fullStats(await this.#queue.stats())).toMatchObject(this.#model.stats(now));
    expect(this.#items(await this.#queue.peekData(1000))).toEqual(this.#model.peek(1000, now));
    expect(this.#items(await this.#queue.dead.peekData(1000))).toEqual(this.#model.peekDead(1000, now));
  }

  #learnId(id: string, item: number): void {
    expect(this.#itemOf.has(id), `id ${id} given out twice`).toBe(false);
    this.#itemOf.set(id, item);
    this.#idOf.set(item, id);
  }

  #item(id: string): number {
    const item = this.#itemOf.get(id);
    if (item === undefined) throw new Error(`Redis returned an id it never gave out: ${JSON.stringify(id)}`);
    return item;
  }

  /** The model numbers of a peek result, after checking each payload belongs to its id. */
  #items(peeked: Map<string, Payload>): number[] {
    return [...peeked].map(([id, payload]) => {
      expect(payload.n).toBe(this.#item(id));
      return payload.n;
    });
  }

  #tokens(leases: Iterable<string>): number[] {
    return sortedTokens(
      [...leases].map((lease) => {
        const token = this.#tokenOf.get(lease);
        if (token === undefined) throw new Error(`Redis answered with a lease it never issued: ${JSON.stringify(lease)}`);
        return token;
      }),
    );
  }

  #expectDeliveries(got: Delivery<Payload>[], expected: ModelDelivery[]): void {
    expect(got.map((d) => d.item.n)).toEqual(expected.map((d) => d.id));
    expect(got.map((d) => this.#item(d.id))).toEqual(expected.map((d) => d.id));
    expect(got.map((d) => d.delivery)).toEqual(expected.map((d) => d.delivery));
    got.forEach((d, i) => {
      const token = expected[i]?.lease;
      if (token === undefined) {
        expect(d.lease).toBe(d.id);
        return;
      }
      expect(DataQueue.itemId(d.lease)).toBe(d.id);
      expect(this.#tokenOf.has(d.lease), `lease ${d.lease} issued twice`).toBe(false);
      this.#issued.push(d.lease);
      this.#tokenOf.set(d.lease, token);
    });
  }

  /** The strings to send, and the model tokens of those that name a delivery Redis made. */
  #leases(picks: readonly LeasePick[]): { texts: string[]; tokens: number[] } {
    const texts = picks.map((pick) => this.#leaseText(pick));
    const tokens = texts.flatMap((text) => {
      const token = this.#tokenOf.get(text);
      return token === undefined ? [] : [token];
    });
    return { texts, tokens };
  }

  #leaseText(pick: LeasePick): string {
    const issued = this.#issued;
    const back = (n: number): string | undefined => issued[issued.length - 1 - (n % Math.max(issued.length, 1))];
    switch (pick.kind) {
      case 'issued':
        return back(pick.back) ?? 'x:1';
      case 'spliced': {
        const a = back(pick.idOf);
        const b = back(pick.entryOf);
        return a && b ? `${DataQueue.itemId(a)}:${b.slice(b.lastIndexOf(':') + 1)}` : 'x:1';
      }
      case 'foreign':
        return this.#foreign[pick.index] ?? 'x:1';
      case 'forged': {
        const someId = this.#idOf.get(0) ?? 'x';
        if (pick.text === 'unknown-entry') return `${someId}:999999`;
        if (pick.text === 'item-id') return someId;
        return pick.text;
      }
    }
  }
}

function sortedTokens(tokens: Iterable<number>): number[] {
  return [...tokens].sort((a, b) => a - b);
}

async function runScenario({ readers, commands }: Scenario): Promise<void> {
  const run = await ModelRun.start(readers);
  for (const cmd of commands) await run.step(cmd);
  await run.expectSameState();
}

const put = (n: number): Command => ({ op: 'put', n, delay: undefined, priority: undefined, ttl: undefined });
/** One item read with a 1 ms lease, and 1 ms later. */
const expireOne: Command[] = [put(1), { op: 'get', count: 1, visTimeout: 0.001, reader: 0 }, { op: 'wait', ms: 1 }];
const deadAfterOneTry: readonly [ReaderSettings, ReaderSettings] = [
  { attempts: 1, useDead: true },
  { attempts: 1, useDead: true },
];

/** Shrunk counterexamples fast-check found; they run first on every run. */
const regressions: [Scenario][] = [
  // redrive right after the last lease of an item expired must see that dead letter
  [{ readers: deadAfterOneTry, commands: [...expireOne, { op: 'redrive', count: undefined }] }],
  // so must the dead-letter queue itself
  [{ readers: deadAfterOneTry, commands: [...expireOne, { op: 'peekDead', count: 1 }] }],
  // item 1's lease is cut to end 1 ms in (the second refresh comes then), item 0's 1 ms
  // later: item 1 is the first dead letter
  [
    {
      readers: deadAfterOneTry,
      commands: [
        put(2),
        { op: 'get', count: 2, visTimeout: 1, reader: 0 },
        { op: 'refresh', leases: [{ kind: 'issued', back: 0 }], visTimeout: 0.001 },
        { op: 'wait', ms: 1 },
        { op: 'refresh', leases: [{ kind: 'issued', back: 1 }], visTimeout: 0.001 },
        { op: 'wait', ms: 1 },
        { op: 'get', count: 1, visTimeout: 0.001, reader: 0 },
      ],
    },
  ],
  // both last deliveries end before the next operation: item 1's first, so it comes first
  [
    {
      readers: deadAfterOneTry,
      commands: [
        put(2),
        { op: 'get', count: 2, visTimeout: 1, reader: 0 },
        { op: 'refresh', leases: [{ kind: 'issued', back: 0 }], visTimeout: 0.001 },
        { op: 'wait', ms: 1000 },
        { op: 'peekDead', count: 2 },
      ],
    },
  ],
];

/** Each property run takes a few ms; this leaves room for a busy machine. */
const PROPERTY_TIMEOUT_MS = 60_000;

describe('DataQueue against the reference model', () => {
  it('agrees with the model on every step of random workloads', async () => {
    await fc.assert(fc.asyncProperty(scenario, runScenario), { numRuns: 700, examples: regressions });
  }, PROPERTY_TIMEOUT_MS);
});

describe('dead letters appear when the last delivery ends, whichever operation comes next', () => {
  const t0 = START_MS;

  async function expiredOnce(name: string): Promise<{ queue: DataQueue<string>; id: string }> {
    ctx.freeze(t0);
    const queue = new DataQueue<string>(ctx.store, name, { prefix: ctx.prefix, visTimeout: 0.1, useDead: true });
    const [id] = await queue.putData(['a']);
    await queue.getData(1);
    ctx.freeze(t0 + 100);
    return { queue, id: id as string };
  }

  it('redrive moves an item whose only lease has just expired', async () => {
    const { queue, id } = await expiredOnce('redrive');
    expect(await queue.redrive()).toBe(1);
    expect([...(await queue.peekData(5)).keys()]).toEqual([id]);
  });

  it('the dead-letter queue holds an item as soon as its only lease has expired', async () => {
    const { queue, id } = await expiredOnce('peek-dead');
    expect([...(await queue.dead.peekData(5)).keys()]).toEqual([id]);
    expect([...(await queue.dead.getData(5)).keys()]).toEqual([id]);
  });

  it('dead letters enter in the order their last deliveries ended, when a release comes after an expiry', async () => {
    ctx.freeze(t0);
    const queue = new DataQueue<string>(ctx.store, 'order', { prefix: ctx.prefix, visTimeout: 0.1, useDead: true });
    const [first, second] = await queue.putData(['first', 'second']);
    const leases = [...(await queue.getData(2, { visTimeout: 1 })).keys()];
    // `second`'s lease is cut to end at t0 + 100; `first` is released (its last attempt) later
    await queue.refreshData([leases[1] as string], { visTimeout: 0.1 });
    ctx.freeze(t0 + 150);
    expect((await queue.releaseData([leases[0] as string])).exhausted.size).toBe(1);
    expect([...(await queue.dead.peekData(5)).keys()]).toEqual([second, first]);
  });

  it('dead letters enter in the order their last deliveries ended, when one step notices both', async () => {
    ctx.freeze(t0);
    const queue = new DataQueue<string>(ctx.store, 'one-step', { prefix: ctx.prefix, useDead: true });
    const [first, second] = await queue.putData(['first', 'second']);
    const leases = [...(await queue.getData(2, { visTimeout: 1 })).keys()];
    await queue.refreshData([leases[1] as string], { visTimeout: 0.1 });
    // nothing runs between the two expiries
    ctx.freeze(t0 + 1000);
    expect((await queue.stats()).dead).toBe(2);
    expect([...(await queue.dead.peekData(5)).keys()]).toEqual([second, first]);
  });
});

describe('ttl', () => {
  it('never delivers an item past its ttl, even when more than 1000 expire at once', async () => {
    ctx.freeze(START_MS);
    const queue = new DataQueue<number>(ctx.store, 'ttl-many', { prefix: ctx.prefix });
    await queue.putData(Array.from({ length: 1001 }, (_, i) => i), { ttl: 0.1 });
    ctx.freeze(START_MS + 100);
    expect(await queue.getData(1)).toEqual(new Map());
    expect((await queue.stats()).expired).toBe(1001);
  });
});
