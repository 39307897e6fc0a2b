import { afterEach, describe, expect, it } from 'vitest';
import { DataQueue, VisqRangeError, VisqTypeError } from '../../src/index.js';
import { useStore } from '../harness/context.js';

const ctx = useStore();
const opened: DataQueue<unknown>[] = [];

afterEach(async () => {
  await Promise.all(opened.splice(0).map((queue) => queue.close()));
});

type Call = (queue: DataQueue<unknown>, leases: string[]) => unknown;

interface BadInput {
  readonly label: string;
  readonly call: Call;
  readonly error: typeof TypeError | typeof RangeError;
  /** The argument the message must name, between backticks. */
  readonly arg: string;
}

function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 20 ? `${value.slice(0, 20)}…` : value);
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'function') return 'a function';
  if (typeof value === 'symbol') return String(value);
  if (value instanceof Map) return 'a Map';
  if (value instanceof Set) return 'a Set';
  if (value instanceof AbortController) return 'an AbortController';
  if (Array.isArray(value)) return `[${value.map(show).join(', ')}]`;
  if (typeof value === 'object' && value !== null) return JSON.stringify(value);
  return String(value);
}

/** Bad values of one argument: `range` ones must be RangeErrors, `type` ones TypeErrors. */
function bad(
  arg: string,
  call: (value: unknown) => Call,
  values: { range?: readonly unknown[]; type?: readonly unknown[] },
): BadInput[] {
  const cases = (list: readonly unknown[] | undefined, error: typeof TypeError | typeof RangeError): BadInput[] =>
    (list ?? []).map((value) => ({ label: `${arg} = ${show(value)}`, call: call(value), error, arg }));
  return [...cases(values.type, TypeError), ...cases(values.range, RangeError)];
}

const NOT_NUMBERS = ['1', null, true, {}, 1n] as const;
const COUNTS = { range: [0, 1001, 1.5, -1, NaN, Infinity, -Infinity, 1e20], type: NOT_NUMBERS };
const SECONDS = { range: [-1, -0.001, NaN, Infinity, -Infinity, 1e10], type: NOT_NUMBERS };
const NOT_OPTIONS = { type: [null, 42, 'visTimeout', [], true] };

/** A call with a lease list: `leases` are two live leases of the queue under test. */
function leaseCases(method: 'refreshData' | 'doneData' | 'releaseData' | 'failData'): BadInput[] {
  const with_ =
    (make: (leases: string[]) => unknown): Call =>
    (queue, leases) =>
      (queue[method] as (value: unknown) => Promise<unknown>).call(queue, make(leases));
  return [
    ...bad('leases', (value) => with_(() => value), { type: [undefined, null, 42, 'a lease', {}, true] }),
    { label: 'a number after a live lease', call: with_((l) => [l[0], 42]), error: TypeError, arg: 'leases[1]' },
    { label: 'null', call: with_(() => [null]), error: TypeError, arg: 'leases[0]' },
    {
      label: 'undefined between leases',
      call: with_((l) => [l[0], undefined, l[1]]),
      error: TypeError,
      arg: 'leases[1]',
    },
    { label: 'a String object', call: with_((l) => [new String(l[0])]), error: TypeError, arg: 'leases[0]' },
    { label: 'a symbol', call: with_(() => [Symbol('lease')]), error: TypeError, arg: 'leases[0]' },
    { label: 'an array of leases', call: with_((l) => [l]), error: TypeError, arg: 'leases[0]' },
    {
      label: 'a Map with a number key',
      call: with_((l) => new Map<unknown, number>([[l[0], 1], [7, 2]])),
      error: TypeError,
      arg: 'leases[1]',
    },
  ];
}

/** A constructor call with the test's prefix and `options`. */
const construct =
  (options: Record<string, unknown>): Call =>
  () =>
    new DataQueue(ctx.store, 'q', { prefix: ctx.prefix, ...options } as never);

const tables: Record<string, BadInput[]> = {
  'new DataQueue': [
    ...bad('store', (store) => () => new DataQueue(store as never, 'q'), {
      type: [undefined, null, {}, 'redis://localhost', 42],
    }),
    ...bad('name', (name) => () => new DataQueue(ctx.store, name as never, { prefix: ctx.prefix }), {
      type: [undefined, null, 42, {}, ['q']],
      range: ['', 'x'.repeat(257)],
    }),
    ...bad('options', (options) => () => new DataQueue(ctx.store, 'q', options as never), NOT_OPTIONS),
    ...bad('options.visTimout', () => construct({ visTimout: 1 }), { type: [1] }),
    ...bad('options.delay', () => construct({ delay: 1 }), { type: [1] }),
    ...bad('options.visTimeout', (v) => construct({ visTimeout: v }), SECONDS),
    ...bad('options.attempts', (v) => construct({ attempts: v }), {
      range: [0, 1.5, -1, NaN, Infinity, 1e7],
      type: NOT_NUMBERS,
    }),
    ...bad('options.useDead', (v) => construct({ useDead: v }), {
      type: ['yes', 1, null, {}],
    }),
    ...bad('options.prefix', (v) => construct({ prefix: v }), {
      range: ['', 'a{b', 'a}b', 'x'.repeat(129)],
      type: [42, null, {}],
    }),
    ...bad('options.maxItemBytes', (v) => construct({ maxItemBytes: v }), {
      range: [0, 1.5, -1, NaN, Infinity, 1e10],
      type: NOT_NUMBERS,
    }),
  ],

  putData: [
    ...bad('items', (items) => (q) => q.putData(items as never), {
      type: [undefined, null, 'abc', 42, { length: 1, 0: 'x' }, new Set(['x'])],
    }),
    ...bad('opts', (opts) => (q) => q.putData(['x'], opts as never), NOT_OPTIONS),
    ...bad('opts.delai', () => (q) => q.putData(['x'], { delai: 1 } as never), { type: [1] }),
    ...bad('opts.visTimeout', () => (q) => q.putData(['x'], { visTimeout: 1 } as never), { type: [1] }),
    ...bad('opts.delay', (v) => (q) => q.putData(['x'], { delay: v as never }), SECONDS),
    ...bad('opts.ttl', (v) => (q) => q.putData(['x'], { ttl: v as never }), SECONDS),
    ...bad('opts.priority', (v) => (q) => q.putData(['x'], { priority: v as never }), {
      range: [1001, -1001, 0.5, NaN, Infinity, -Infinity, 1e20],
      type: NOT_NUMBERS,
    }),
    {
      label: 'an item over maxItemBytes',
      call: () => {
        const queue = new DataQueue(ctx.store, 'q', { prefix: ctx.prefix, maxItemBytes: 8 });
        opened.push(queue);
        return queue.putData(['fits', 'does not fit']);
      },
      error: RangeError,
      arg: 'items[1]',
    },
  ],

  'getData and getDeliveries': [
    ...bad('count', (count) => (q) => q.getData(count as never), COUNTS),
    ...bad('count', (count) => (q) => q.getDeliveries(count as never), { range: [0, 1001, 1.5], type: ['1'] }),
    ...bad('opts', (opts) => (q) => q.getData(1, opts as never), NOT_OPTIONS),
    ...bad('opts', (opts) => (q) => q.getDeliveries(1, opts as never), { type: [null] }),
    ...bad('opts.visTimout', () => (q) => q.getData(1, { visTimout: 1 } as never), { type: [1] }),
    ...bad('opts.delay', () => (q) => q.getDeliveries(1, { delay: 1 } as never), { type: [1] }),
    ...bad('opts.visTimeout', (v) => (q) => q.getData(1, { visTimeout: v as never }), SECONDS),
    ...bad('opts.visTimeout', (v) => (q) => q.getDeliveries(1, { visTimeout: v as never }), { range: [-1] }),
    ...bad('opts.wait', (v) => (q) => q.getData(1, { wait: v as never }), SECONDS),
    ...bad('opts.wait', (v) => (q) => q.getDeliveries(1, { wait: v as never }), { range: [NaN] }),
    // more than an hour is milliseconds by mistake: refused, not a block of hours
    ...bad('opts.wait', (v) => (q) => q.getData(1, { wait: v as never }), { range: [3600.001, 10_000] }),
    ...bad('opts.wait', (v) => (q) => q.getDeliveries(1, { wait: v as never }), { range: [30_000] }),
    ...bad('opts.signal', (v) => (q) => q.getData(1, { signal: v as never }), {
      type: [{}, 'abort', null, new AbortController(), { aborted: false }],
    }),
  ],

  refreshData: [
    ...leaseCases('refreshData'),
    ...bad('opts', (opts) => (q, l) => q.refreshData(l, opts as never), NOT_OPTIONS),
    ...bad('opts.delay', () => (q, l) => q.refreshData(l, { delay: 1 } as never), { type: [1] }),
    ...bad('opts.visTimeout', (v) => (q, l) => q.refreshData(l, { visTimeout: v as never }), {
      range: [0, ...SECONDS.range],
      type: NOT_NUMBERS,
    }),
    {
      label: 'no visTimeout on a queue without a default',
      call: (_, leases) => {
        const queue = new DataQueue(ctx.store, 'q', { prefix: ctx.prefix });
        opened.push(queue);
        return queue.refreshData(leases);
      },
      error: RangeError,
      arg: 'opts.visTimeout',
    },
  ],

  doneData: leaseCases('doneData'),

  releaseData: [
    ...leaseCases('releaseData'),
    ...bad('opts', (opts) => (q, l) => q.releaseData(l, opts as never), NOT_OPTIONS),
    ...bad('opts.visTimeout', () => (q, l) => q.releaseData(l, { visTimeout: 1 } as never), { type: [1] }),
    ...bad('opts.delay', (v) => (q, l) => q.releaseData(l, { delay: v as never }), SECONDS),
    ...bad('opts.countDelivery', (v) => (q, l) => q.releaseData(l, { countDelivery: v as never }), {
      type: ['yes', 0, 1, null, {}],
    }),
  ],

  failData: [
    ...leaseCases('failData'),
    ...bad('opts', (opts) => (q, l) => q.failData(l, opts as never), NOT_OPTIONS),
    ...bad('opts.delay', () => (q, l) => q.failData(l, { delay: 1 } as never), { type: [1] }),
    ...bad('opts.useDead', (v) => (q, l) => q.failData(l, { useDead: v as never }), { type: ['yes', 0, null, {}] }),
  ],

  peekData: bad('count', (count) => (q) => q.peekData(count as never), COUNTS),

  inspect: bad('id', (id) => (q) => q.inspect(id as never), {
    type: [undefined, null, 42, {}, ['id'], Symbol('id')],
    range: ['', 'x'.repeat(513)],
  }),

  // redrive(0) is a no-op, not an error: a computed limit of 0 should not throw
  redrive: bad('count', (count) => (q) => q.redrive(count as never), {
    range: [-1, 1.5, NaN, Infinity, -Infinity],
    type: NOT_NUMBERS,
  }),

  'DataQueue.itemId': bad('lease', (lease) => () => DataQueue.itemId(lease as never), {
    type: [undefined, null, 42, {}, ['a:1'], Symbol('lease')],
  }),
};

/** What calling `call` threw or rejected with; undefined when it succeeded. */
async function failure(call: () => unknown): Promise<unknown> {
  try {
    await call();
  } catch (error) {
    return error;
  }
  return undefined;
}

/** A queue with stored items and two live leases, so that "nothing changed" means something. */
async function seeded(): Promise<{ queue: DataQueue<unknown>; leases: string[] }> {
  const queue = new DataQueue(ctx.store, 'q', { prefix: ctx.prefix, visTimeout: 30, useDead: true });
  opened.push(queue);
  await queue.putData(['a', 'b', 'c']);
  await queue.putData(['later'], { delay: 30 });
  await queue.dead.putData(['dead']);
  const leases = [...(await queue.getData(2)).keys()];
  return { queue, leases };
}

describe.each(Object.entries(tables))('%s', (_, cases) => {
  it.each(cases)('rejects $label', async ({ call, error, arg }) => {
    const { queue, leases } = await seeded();
    const before = await ctx.snapshot();
    const thrown = await failure(() => call(queue, leases));
    expect(thrown).toBeInstanceOf(error);
    expect(thrown).toBeInstanceOf(error === RangeError ? VisqRangeError : VisqTypeError);
    expect(thrown).toHaveProperty('code', error === RangeError ? 'ERR_VISQ_OUT_OF_RANGE' : 'ERR_VISQ_INVALID_TYPE');
    expect((thrown as Error).message).toContain(`\`${arg}\``);
    expect(await ctx.snapshot()).toEqual(before);
  });
});

describe('getData wait', () => {
  it('says that a wait over an hour is in seconds, not milliseconds', async () => {
    const queue = new DataQueue(ctx.store, 'q', { prefix: ctx.prefix });
    opened.push(queue);
    await expect(queue.getData(1, { wait: 10_000 })).rejects.toThrow(
      'Expected `opts.wait` to be a number of seconds from 0 to 3600 (one hour; times are in seconds, not milliseconds), got 10000 (number)',
    );
  });

  it('accepts a wait of exactly an hour', async () => {
    const queue = new DataQueue(ctx.store, 'q', { prefix: ctx.prefix });
    opened.push(queue);
    await queue.putData(['here']);
    // an item is visible, so the read returns at once whatever the wait
    expect([...(await queue.getData(1, { wait: 3600 })).values()]).toEqual(['here']);
  });
});

describe('putData with an item JSON cannot give back unchanged', () => {
  const cycle: Record<string, unknown> = { name: 'cycle' };
  cycle.self = cycle;
  const loop: unknown[] = [];
  loop.push(loop);
  class Point {
    constructor(readonly x: number) {}
  }
  // the bad value sits after a good one: the whole call must be refused, not a prefix of it
  const items: { label: string; item: unknown; path: string }[] = [
    { label: 'undefined', item: undefined, path: 'items[1]' },
    { label: 'a function', item: () => 1, path: 'items[1]' },
    { label: 'a symbol', item: Symbol('x'), path: 'items[1]' },
    { label: 'a BigInt', item: 1n, path: 'items[1]' },
    { label: 'NaN', item: NaN, path: 'items[1]' },
    { label: 'Infinity', item: Infinity, path: 'items[1]' },
    { label: '-Infinity', item: -Infinity, path: 'items[1]' },
    { label: 'an object that contains itself', item: cycle, path: 'items[1].self' },
    { label: 'an array that contains itself', item: loop, path: 'items[1][0]' },
    { label: 'a Map', item: new Map([['a', 1]]), path: 'items[1]' },
    { label: 'a Set', item: new Set([1]), path: 'items[1]' },
    { label: 'a class instance', item: new Point(1), path: 'items[1]' },
    { label: 'a boxed number', item: Object(1) as unknown, path: 'items[1]' },
    { label: 'a sparse array', item: [1, , 3], path: 'items[1][1]' },
    { label: 'an undefined property', item: { a: 1, b: undefined }, path: 'items[1].b' },
    { label: 'a deep BigInt', item: { a: { b: [1, 2n] } }, path: 'items[1].a.b[1]' },
    { label: 'a symbol key', item: { [Symbol('k')]: 1 }, path: 'items[1]' },
    { label: 'a toJSON that returns undefined', item: { toJSON: () => undefined }, path: 'items[1]' },
    { label: 'a toJSON that returns NaN', item: { toJSON: () => NaN }, path: 'items[1]' },
  ];

  it.each(items)('rejects the whole call for $label, with a TypeError naming it', async ({ item, path }) => {
    const { queue } = await seeded();
    const before = await ctx.snapshot();
    const thrown = await failure(() => queue.putData(['fine', item, 'also fine']));
    expect(thrown).toBeInstanceOf(VisqTypeError);
    expect(thrown).toBeInstanceOf(TypeError);
    expect(thrown).toHaveProperty('code', 'ERR_VISQ_INVALID_TYPE');
    expect((thrown as Error).message).toContain(`\`${path}\``);
    expect(await ctx.snapshot()).toEqual(before);
  });

  it('rejects a hole in the items array itself', async () => {
    const { queue } = await seeded();
    const before = await ctx.snapshot();
    const thrown = await failure(() => queue.putData(['fine', , 'also fine']));
    expect(thrown).toBeInstanceOf(VisqTypeError);
    expect((thrown as Error | undefined)?.message).toContain('`items[1]`');
    expect(await ctx.snapshot()).toEqual(before);
  });

  it('rejects a whole call of more than 1000 items when the last one is bad', async () => {
    const { queue } = await seeded();
    const before = await ctx.snapshot();
    const thrown = await failure(() => queue.putData([...Array.from({ length: 2000 }, (_, i) => i), undefined]));
    expect(thrown).toBeInstanceOf(VisqTypeError);
    expect((thrown as Error).message).toContain('`items[2000]`');
    expect(await ctx.snapshot()).toEqual(before);
  });
});

describe('error messages', () => {
  it('name the argument, the accepted range and the value given', async () => {
    const { queue } = await seeded();
    const message = async (call: () => unknown): Promise<string> => ((await failure(call)) as Error).message;
    expect(await message(() => queue.getData(0))).toBe(
      'Expected `count` to be an integer from 1 to 1000, got 0 (number)',
    );
    expect(await message(() => queue.putData(['x'], { priority: 1001 }))).toBe(
      'Expected `opts.priority` to be an integer from -1000 to 1000, got 1001 (number)',
    );
    expect(await message(() => queue.getData(1, { wait: '5' as never }))).toMatch(
      /^Expected `opts\.wait` to be .+, got "5" \(string\)$/,
    );
    expect(await message(() => queue.getData(1, { visTimout: 5 } as never))).toMatch(
      /^Unknown option `opts\.visTimout`; known options are `visTimeout`, `wait`, `signal`$/,
    );
  });
});

describe('leases that are not live', () => {
  it('are not errors: they are left out and change nothing', async () => {
    const { queue, leases } = await seeded();
    const other = new DataQueue(ctx.store, 'other', { prefix: ctx.prefix, visTimeout: 30 });
    opened.push(other);
    await other.putData(['x']);
    const foreign = [...(await other.getData(1)).keys()];
    const id = DataQueue.itemId(leases[0] as string);
    const notLive = ['', 'x', ':1', 'a:b', 'a:1', `${leases[0]}:1`, `${id}:99`, ...foreign];
    const before = await ctx.snapshot();
    expect(await queue.refreshData(notLive)).toEqual(new Set());
    expect(await queue.doneData(notLive)).toBe(0);
    expect(await queue.releaseData(notLive)).toEqual({ requeued: new Set(), exhausted: new Set() });
    expect(await queue.failData(notLive)).toEqual(new Set());
    expect(await ctx.snapshot()).toEqual(before);
  });

  it('give their input back from DataQueue.itemId when malformed', () => {
    for (const text of ['', 'x', ':1', 'a:b']) expect(DataQueue.itemId(text)).toBe(text);
  });
});
