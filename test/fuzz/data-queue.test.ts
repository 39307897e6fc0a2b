/**
 * Fuzz of every public entry point of DataQueue with hostile values (fast-check): wrong
 * types, NaN, infinities, negative and huge numbers, 1001 items, empty arrays, huge
 * payloads, names full of `{`, `}`, `:`, spaces, unicode and `__proto__`, leases forged,
 * malformed, stale, from another queue or from the dead-letter queue. Each call is made
 * against a queue holding items in every state, and must give the answer of the contract —
 * a VisqTypeError / VisqRangeError for a bad argument, no effect for a lease that is not
 * live — and leave every key exactly as it was.
 */
import fc from 'fast-check';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DataQueue } from '../../src/index.js';
import { useStore } from '../harness/context.js';
import { selectedKind } from '../harness/store-kind.js';
import {
  booleanArg,
  expectRejection,
  faults,
  hostileName,
  integerArg,
  optionsArg,
  outcome,
  secondsArg,
  textArg,
  tried,
  unchanged as unchangedIn,
  type Judged,
} from './hostile.js';

// every store the suites know, except where a store is not set up in this run
const runs = ['redis', 'memory', 'cluster', 'postgres'].includes(selectedKind());
const ctx = useStore();
const RUNS = { numRuns: 60 };

interface Seeded {
  readonly queue: DataQueue<unknown>;
  /** Two live leases. */
  readonly live: string[];
  /** Strings that look like leases but are not live ones of `queue`. */
  readonly notLive: string[];
}

let seeded: Seeded;
const opened: DataQueue<unknown>[] = [];

function open(name: string, options: Record<string, unknown> = {}): DataQueue<unknown> {
  const queue = new DataQueue(ctx.store, name, { prefix: ctx.prefix, ...options });
  opened.push(queue);
  return queue;
}

/** A queue with items ready, delayed, in flight (two live leases) and dead, and leases that are not live. */
async function seed(): Promise<Seeded> {
  const queue = open('q', { visTimeout: 30, attempts: 3, useDead: true });
  await queue.putData(['a', 'b', 'c', { deep: [1, { x: null }] }]);
  await queue.putData(['later'], { delay: 60, priority: 5, ttl: 600 });
  await queue.dead.putData(['dead']);
  const [first, second, third] = await queue.getDeliveries(3);
  if (!first || !second || !third) throw new Error('the seeded queue delivered too little');
  // stale: finished, and released (then read again under a new lease, which stays live)
  await queue.doneData([first.lease]);
  await queue.releaseData([third.lease], { countDelivery: false });
  const again = (await queue.getDeliveries(2)).map((d) => d.lease);
  const other = open('other', { visTimeout: 30 });
  await other.putData(['x']);
  const foreign = (await other.getDeliveries(1)).map((d) => d.lease);
  const dead = open('q2', { visTimeout: 30, useDead: true });
  await dead.dead.putData(['d']);
  const deadLease = (await dead.dead.getDeliveries(1, { visTimeout: 30 })).map((d) => d.lease);
  const id = DataQueue.itemId(second.lease);
  const entry = second.lease.slice(id.length + 1);
  const notLive = [
    first.lease,
    third.lease,
    ...foreign,
    ...deadLease,
    `${id}:${Number(entry) + 1}`,
    `${id}:0`,
    `${id}:${entry}0`,
    `${id}x:${entry}`,
    `:${entry}`,
    `${id}:`,
    id,
    '',
    ':',
    '__proto__',
    '__proto__:1',
    'constructor:1',
    `${second.lease} `,
    second.lease.toUpperCase() === second.lease ? `${second.lease}:1` : second.lease.toUpperCase(),
    `${id}:${'9'.repeat(17)}`,
    `${id}:-1`,
    `${id}:1e3`,
    `{${ctx.prefix}:q}:inflight`,
    '🙂:1',
  ];
  return { queue, live: [second.lease, ...again], notLive };
}

beforeEach(async () => {
  seeded = await seed();
});

afterEach(async () => {
  await Promise.all(opened.splice(0).map((q) => q.close()));
});

afterAll(() => {
  console.log(`fuzz: ${tried.calls} hostile calls so far in this file`);
});

/** The item id of a lease as the contract describes leases, `<id>:<entry>`; anything else is given back. */
function leaseId(text: string): string {
  return /^(.+):[0-9]{1,16}$/s.exec(text)?.[1] ?? text;
}

/** Runs `call` and checks that the store did not change at all; returns what the call did. */
function unchanged<R>(call: () => R | Promise<R>): Promise<{ error: unknown; result?: R }> {
  return unchangedIn(() => ctx.snapshot(), call);
}

const count = integerArg(1, 1000);
const queueOptions = optionsArg({
  visTimeout: secondsArg(),
  attempts: integerArg(1, 1_000_000),
  useDead: booleanArg(),
  prefix: textArg(128, '{}'),
  maxItemBytes: integerArg(1, 512 * 1024 * 1024),
});

/** JSON values, and values JSON cannot give back (TypeError), nested at any depth. */
const jsonItem: fc.Arbitrary<Judged> = fc.oneof(
  { weight: 4, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((value): Judged => ({ value, bad: [] })) },
  {
    weight: 1,
    arbitrary: fc
      .constantFrom<unknown>(undefined, NaN, Infinity, -Infinity, 1n, Symbol('i'), () => 1, new Map(), new Set([1]), [1, , 3], { a: undefined }, { toJSON: () => undefined })
      .chain((badValue) =>
        fc.constantFrom<unknown>(badValue, [badValue], { nested: { deeper: [0, badValue] } }).map((value): Judged => ({ value, bad: ['type'] })),
      ),
  },
);

describe.runIf(runs)('fuzz: DataQueue', () => {
  it('new DataQueue refuses bad names and options, and touches nothing', async () => {
    await fc.assert(
      // a `}` would end a queue's hash tag early: names may not contain one
      fc.asyncProperty(textArg(256, '}'), queueOptions, async (name, options) => {
        const { error, result } = await unchanged(() =>
          new DataQueue(ctx.store, name.value as string, options.value as never),
        );
        if (result) opened.push(result);
        const bad = faults(name, options);
        if (bad.length === 0) expect(error).toBeUndefined();
        else expectRejection(error, bad);
      }),
      RUNS,
    );
  });

  it('putData refuses bad items and options before writing anything', async () => {
    /** The items argument; `small`: put through a queue whose maxItemBytes is 8. */
    const items: fc.Arbitrary<Judged & { small?: boolean }> = fc.oneof(
      fc
        .constantFrom<unknown>(undefined, null, 'abc', 42, { length: 1, 0: 'x' }, new Set(['x']), new Map())
        .map((value): Judged => ({ value, bad: ['type'] })),
      fc.array(jsonItem, { maxLength: 5 }).map((list): Judged => ({ value: list.map((j) => j.value), bad: faults(...list) })),
      // a bad item after the first chunk of 1000 must stop the earlier chunks too
      fc.tuple(fc.integer({ min: 0, max: 1200 }), jsonItem).map(([at, item]): Judged => {
        const value: unknown[] = Array.from({ length: 1201 }, (_, i) => i);
        value[at] = item.value;
        return { value, bad: item.bad };
      }),
      fc.string({ minLength: 7, maxLength: 12, unit: 'grapheme' }).map((text) => ({
        value: [text],
        bad: Buffer.byteLength(JSON.stringify(text)) > 8 ? (['range'] as const) : [],
        small: true,
      })),
    );
    const putOptions = optionsArg({ delay: secondsArg(), priority: integerArg(-1000, 1000), ttl: secondsArg() });
    await fc.assert(
      fc.asyncProperty(
        items,
        putOptions,
        async (list, options) => {
          const queue = list.small ? open('q', { visTimeout: 30, attempts: 3, useDead: true, maxItemBytes: 8 }) : seeded.queue;
          const bad = faults(list, options);
          fc.pre(bad.length > 0);
          const { error } = await unchanged(() => queue.putData(list.value as unknown[], options.value as never));
          expectRejection(error, bad);
        },
      ),
      RUNS,
    );
  });

  it('putData of an empty array writes nothing and returns no ids', async () => {
    expect((await unchanged(() => seeded.queue.putData([]))).result).toEqual([]);
  });

  it('getData, getDeliveries and peekData refuse bad counts and options, and lease nothing', async () => {
    const getOptions = optionsArg({
      visTimeout: secondsArg(),
      wait: secondsArg({ max: 0.05, limit: 3600 }),
      signal: fc.constantFrom<unknown>(null, {}, 'abort', new AbortController(), { aborted: false }).map((value) => ({ value, bad: ['type'] })),
    });
    await fc.assert(
      fc.asyncProperty(fc.constantFrom('getData', 'getDeliveries', 'peekData'), count, getOptions, async (method, n, options) => {
        const bad = method === 'peekData' ? faults(n) : faults(n, options);
        fc.pre(bad.length > 0);
        const { error } = await unchanged((): Promise<unknown> =>
          method === 'peekData'
            ? seeded.queue.peekData(n.value as number)
            : seeded.queue[method](n.value as number, options.value as never),
        );
        expectRejection(error, bad);
      }),
      RUNS,
    );
  });

  it('refreshData, doneData, releaseData and failData leave out leases that are not live, and change nothing', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('refreshData', 'doneData', 'releaseData', 'failData'),
        fc.uniqueArray(fc.nat(), { maxLength: 8 }),
        fc.array(fc.string({ maxLength: 20, unit: 'grapheme' }), { maxLength: 3 }),
        fc.constantFrom('array', 'set', 'map', 'generator'),
        async (method, picks, forged, shape) => {
          const leases = [...picks.map((i) => seeded.notLive[i % seeded.notLive.length] as string), ...forged];
          fc.pre(!leases.some((l) => seeded.live.includes(l)));
          const argument =
            shape === 'set'
              ? new Set(leases)
              : shape === 'map'
                ? new Map(leases.map((l) => [l, 'item']))
                : shape === 'generator'
                  ? (function* () {
                      yield* leases;
                    })()
                  : leases;
          const { error, result } = await unchanged(() =>
            (seeded.queue[method] as (leases: unknown) => Promise<unknown>).call(seeded.queue, argument),
          );
          expect(error).toBeUndefined();
          if (method === 'doneData') expect(result).toBe(0);
          else if (method === 'releaseData') expect(result).toEqual({ requeued: new Set(), exhausted: new Set() });
          else expect(result).toEqual(new Set());
        },
      ),
      RUNS,
    );
  });

  it('refreshData, doneData, releaseData and failData refuse non-strings and bad options before touching live leases', async () => {
    // live leases, with or without a value that is not a string among them
    const leaseList = fc
      .tuple(
        fc.subarray([0, 1, 2], { minLength: 1 }),
        fc.option(fc.constantFrom<unknown>(42, null, undefined, {}, ['a:1'], Symbol('l'), new String('a:1'), 1n, NaN)),
        fc.nat(4),
      )
      .map(([live, intruder, at]): Judged => {
        const value: unknown[] = live.map((i) => seeded.live[i]);
        if (intruder === null) return { value, bad: [] };
        value.splice(Math.min(at, value.length), 0, intruder);
        return { value, bad: ['type'] };
      });
    const notIterable = fc
      .constantFrom<unknown>(undefined, null, 42, 'a:1', {}, true, { length: 1, 0: 'a:1' })
      .map((value) => ({ value, bad: ['type'] }) as Judged);
    const options: Record<string, fc.Arbitrary<Judged>> = {
      refreshData: optionsArg({ visTimeout: secondsArg({ exclusiveMin: true }) }),
      doneData: fc.constant({ value: undefined, bad: [] }),
      releaseData: optionsArg({ delay: secondsArg(), countDelivery: booleanArg() }),
      failData: optionsArg({ useDead: booleanArg() }),
    };
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('refreshData', 'doneData', 'releaseData', 'failData').chain((method) =>
          fc.tuple(fc.constant(method), fc.oneof(leaseList, notIterable), options[method] as fc.Arbitrary<Judged>),
        ),
        async ([method, leases, opts]) => {
          const bad = faults(leases, opts);
          fc.pre(bad.length > 0);
          const { error } = await unchanged(() =>
            (seeded.queue[method] as (leases: unknown, opts: unknown) => Promise<unknown>).call(seeded.queue, leases.value, opts.value),
          );
          expectRejection(error, bad);
        },
      ),
      RUNS,
    );
  });

  it('redrive, inspect and DataQueue.itemId refuse bad arguments and change nothing', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          integerArg(0, Number.MAX_SAFE_INTEGER).map((n) => ({ method: 'redrive' as const, arg: n })),
          textArg(512).map((id) => ({ method: 'inspect' as const, arg: id })),
          fc.oneof(
            fc.constantFrom<unknown>(undefined, null, 42, {}, ['a:1'], Symbol('l')).map((value) => ({ value, bad: ['type'] }) as Judged),
            hostileName.map((value) => ({ value, bad: [] }) as Judged),
          ).map((lease) => ({ method: 'itemId' as const, arg: lease })),
        ),
        async ({ method, arg }) => {
          // a good redrive count moves dead letters: only bad ones are tried
          fc.pre(method !== 'redrive' || arg.bad.length > 0);
          const call = (): unknown =>
            method === 'itemId' ? DataQueue.itemId(arg.value as string) : seeded.queue[method](arg.value as never);
          if (arg.bad.length > 0) {
            expectRejection((await unchanged(call)).error, arg.bad);
            return;
          }
          // inspect brings the queue up to date first, which may write bookkeeping
          tried.calls += 1;
          const { error, result } = await outcome(call);
          expect(error).toBeUndefined();
          expect(result).toEqual(method === 'itemId' ? leaseId(arg.value as string) : undefined);
        },
      ),
      RUNS,
    );
  });

  it('keeps queues with hostile names apart: a full round trip on one leaves every other key as it was', async () => {
    await fc.assert(
      fc.asyncProperty(hostileName.filter((name) => !name.includes('}')), async (name) => {
        const queue = open(name, { visTimeout: 30, attempts: 2, useDead: true });
        const { error } = await unchanged(async () => {
          const [id] = await queue.putData([{ name }]);
          const got = await queue.getDeliveries(5);
          expect(got.map((d) => [d.id, d.item])).toEqual([[id, { name }]]);
          expect(await seeded.queue.doneData(got.map((d) => d.lease))).toBe(0);
          expect(await queue.doneData(got.map((d) => d.lease))).toBe(1);
          await queue.dead.putData(['x']);
          expect(await queue.redrive()).toBe(1);
          expect((await queue.stats()).ready).toBe(1);
          await queue.clear();
        });
        expect(error).toBeUndefined();
      }),
      { numRuns: 40 },
    );
  });

  // src/validate.ts, options(): a non-array object with no own keys passes as "no
  // options", so options given as a Map (or a Date, a boxed number) are silently ignored
  it('refuses options given as a Map, instead of putting the items without them', async () => {
    const { error } = await unchanged(() => seeded.queue.putData(['x'], new Map([['delay', 60]]) as never));
    expectRejection(error, ['type']);
  });

  it('takes items up to maxItemBytes of UTF-8 JSON and refuses the next byte with a RangeError naming both', async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ maxLength: 40, unit: 'binary' }), fc.integer({ min: 1, max: 64 }), async (text, limit) => {
        const size = Buffer.byteLength(JSON.stringify(text), 'utf8');
        const queue = open('sized', { maxItemBytes: limit });
        tried.calls += 1;
        if (size <= limit) {
          await queue.putData([text]);
          expect([...(await queue.getData(1)).values()]).toEqual([text]);
          return;
        }
        const { error } = await unchanged(() => queue.putData([text]));
        expectRejection(error, ['range']);
        expect((error as Error).message).toBe(
          `Expected \`items[0]\` to encode to at most ${limit} bytes of JSON, got ${size} bytes`,
        );
      }),
      RUNS,
    );
  });
});
