/**
 * Hostile argument values for the fuzz suites, each judged against the documented
 * contract (README.md, docs/) and src/validate.ts by an oracle written here, independently of the code under
 * test: what it is (`value`) and why it must be refused, if it must (`bad`: the classes of
 * error that would be right). A value can be judged bad for several reasons, and the call
 * may report any one of them; a call with one bad argument must report exactly that one.
 */
import fc from 'fast-check';
import { expect } from 'vitest';
import { VisqRangeError, VisqTypeError } from '../../src/index.js';

export type Fault = 'type' | 'range';

/** A generated argument and the faults the contract finds in it (none: a good value). */
export interface Judged<T = unknown> {
  readonly value: T;
  readonly bad: readonly Fault[];
}

const good = <T>(value: T): Judged<T> => ({ value, bad: [] });

/** Values of every JavaScript type but number, plus the ones that pass for numbers. */
export const notANumber: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom<unknown>('1', '', ' 1 ', '0x10', 'NaN', null, true, false, [], [1], {}, { valueOf: () => 1 }, 1n, Symbol('n')),
  fc.string({ maxLength: 8 }),
  fc.bigInt(),
  // a plain function: fc.func makes values fast-check clones per run, which the judged
  // wrappers here do not carry through
  fc.constant(() => 1),
  fc.date(),
  fc.constant(new Number(5)),
);

/** Numbers a validation can trip on: NaN, infinities, signed zero, fractions, huge and tiny ones. */
const awkwardNumbers = fc.constantFrom(
  NaN, Infinity, -Infinity, -0, 0, 0.5, -0.5, 1.5, -1, 1, 2 ** 31, 2 ** 53, 2 ** 53 + 2, 1e9, 1e9 + 1, 1e20, 1e308,
  Number.MAX_VALUE, -Number.MAX_VALUE, Number.MIN_VALUE, Number.EPSILON, 999, 1000, 1001, -1000, -1001,
);

/** Any number, weighted toward the awkward ones. */
const anyNumber = fc.oneof({ weight: 3, arbitrary: awkwardNumbers }, fc.double(), fc.integer({ min: -5000, max: 5000 }));

/** An argument the contract takes as an integer from `min` to `max`. */
export function integerArg(min: number, max: number): fc.Arbitrary<Judged> {
  return fc.oneof(
    { weight: 1, arbitrary: notANumber.map((value) => ({ value, bad: ['type'] as Fault[] })) },
    {
      weight: 3,
      // fc.integer stays within 32 bits: larger bounds are tried at the bound itself
      arbitrary: fc.oneof(anyNumber, fc.integer({ min, max: Math.min(max, 0x7fffffff) }), fc.constant(max)).map((value) => ({
        value,
        bad: Number.isInteger(value) && value >= min && value <= max ? [] : (['range'] as Fault[]),
      })),
    },
  );
}

/** The largest number of seconds visq accepts (~31 years; getData's wait: an hour). */
const MAX_SECONDS = 1e9;

/** An argument the contract takes as seconds from 0 (or above 0) to 1e9. */
/**
 * Seconds as an argument: `limit` is the largest the argument accepts (default
 * {@link MAX_SECONDS}; getData's `wait`: 3600), `max` the largest good value generated.
 */
export function secondsArg(opts: { exclusiveMin?: boolean; max?: number; limit?: number } = {}): fc.Arbitrary<Judged> {
  const max = opts.max ?? MAX_SECONDS;
  const limit = opts.limit ?? MAX_SECONDS;
  return fc.oneof(
    { weight: 1, arbitrary: notANumber.map((value) => ({ value, bad: ['type'] as Fault[] })) },
    {
      weight: 3,
      arbitrary: fc.oneof(anyNumber, fc.double({ min: 0, max: 2, noNaN: true })).map((value) => {
        const fine = !Number.isNaN(value) && value >= 0 && value <= limit && !(opts.exclusiveMin && value === 0);
        return { value, bad: fine ? [] : (['range'] as Fault[]) };
      }),
    },
  ).filter((judged) => judged.bad.length > 0 || (judged.value as number) <= max);
}

export function booleanArg(): fc.Arbitrary<Judged> {
  return fc.oneof(
    fc.boolean().map(good),
    fc.constantFrom<unknown>(0, 1, 'true', 'false', '', null, [], {}, new Boolean(true)).map((value) => ({ value, bad: ['type'] as Fault[] })),
  );
}

/** Strings that are legal names but hostile to key building, globbing, JSON and object lookups. */
export const hostileName: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    '{', '}', '{}', '{x}', 'a}b{', '}:dead', ':', 'a:b:c', ':1', ' ', ' lead', 'trail ', 'tab\there', 'new\nline',
    '__proto__', 'constructor', 'prototype', 'hasOwnProperty', 'toString', 'ü', '日本語', '🙂', 'e\u0301', '\u0000',
    '\u202e', '*', '?', '[a]', '\\', '%', '"', "'", 'x'.repeat(256),
  ),
  fc.string({ minLength: 1, maxLength: 30, unit: 'grapheme' }),
);

/** An argument the contract takes as a non-empty string of at most `maxLength`, without `forbid`. */
export function textArg(maxLength: number, forbid = ''): fc.Arbitrary<Judged> {
  const judge = (value: string): Judged => ({
    value,
    bad: value.length === 0 || value.length > maxLength || [...forbid].some((c) => value.includes(c)) ? ['range'] : [],
  });
  return fc.oneof(
    { weight: 3, arbitrary: hostileName.map(judge) },
    { weight: 1, arbitrary: fc.constantFrom('', 'x'.repeat(maxLength + 1), 'y'.repeat(maxLength)).map(judge) },
    {
      weight: 1,
      arbitrary: fc
        .constantFrom<unknown>(undefined, null, 42, NaN, true, [], ['q'], {}, Symbol('q'), new String('q'), 1n)
        .map((value) => ({ value, bad: ['type'] as Fault[] })),
    },
  );
}

/**
 * An options argument: `undefined`, a value that is no options object (a TypeError), or
 * an object with some of `fields` (judged each; one set to `undefined` counts as not
 * given), maybe with a key the contract does not know (`__proto__` as an own key among
 * them), which is a TypeError.
 */
export function optionsArg(fields: Record<string, fc.Arbitrary<Judged>>): fc.Arbitrary<Judged> {
  const keys = Object.keys(fields);
  const object = fc
    .record(
      {
        chosen: fc.subarray(keys),
        values: fc.record(fields),
        unknown: fc.option(fc.constantFrom('__proto__', 'visTimout', 'constructor', 'Delay', 'toString', ''), { nil: undefined }),
      },
    )
    .map(({ chosen, values, unknown }) => {
      const value: Record<string, unknown> = {};
      const bad: Fault[] = [];
      for (const key of chosen) {
        const judged = values[key] as Judged;
        value[key] = judged.value;
        // an option set to undefined is an option not given
        if (judged.value !== undefined) bad.push(...judged.bad);
      }
      if (unknown !== undefined) {
        // defineProperty makes even `__proto__` an own, enumerable key, as JSON.parse does
        Object.defineProperty(value, unknown, { value: 1, enumerable: true, configurable: true, writable: true });
        bad.push('type');
      }
      return { value, bad };
    });
  return fc.oneof(
    { weight: 1, arbitrary: fc.constant(good(undefined)) },
    {
      weight: 1,
      arbitrary: fc
        .constantFrom<unknown>(null, 42, 'opts', true, [], [1], () => undefined, Symbol('o'))
        .map((value) => ({ value, bad: ['type'] as Fault[] })),
    },
    { weight: 4, arbitrary: object },
  );
}

/** Faults of several arguments together. */
export function faults(...args: readonly Judged[]): Fault[] {
  return args.flatMap((a) => a.bad);
}

/**
 * Checks that `error` is the answer the contract gives to arguments with `bad` faults: a
 * VisqTypeError or VisqRangeError (with its stable code and a message in the standard
 * voice) of one of the faults' classes; of exactly that class when there is one fault.
 */
export function expectRejection(error: unknown, bad: readonly Fault[]): void {
  expect(bad.length, `the call threw ${String(error)} for good arguments`).toBeGreaterThan(0);
  const kind = error instanceof VisqRangeError ? 'range' : error instanceof VisqTypeError ? 'type' : undefined;
  expect(kind, `not a VisqTypeError or VisqRangeError: ${String(error)}`).toBeDefined();
  expect(bad, `${String(error)} for faults ${bad.join(', ')}`).toContain(kind);
  expect(error).toHaveProperty('code', kind === 'range' ? 'ERR_VISQ_OUT_OF_RANGE' : 'ERR_VISQ_INVALID_TYPE');
  expect((error as Error).message).toMatch(/^(Expected `[^`]+`|Expected exactly one of `|Unknown option `)/);
}

/** What `call` threw or rejected with, or `undefined` and its result. */
export async function outcome<R>(call: () => R | Promise<R>): Promise<{ error: unknown; result?: R }> {
  try {
    return { error: undefined, result: await call() };
  } catch (error) {
    return { error };
  }
}

/** Counts the hostile calls made, for the run's figures. */
export const tried = { calls: 0 };

/**
 * Runs `call`, counts it, and checks that `snapshot` (every key of the test's prefix)
 * reads the same after it as before; returns what the call did.
 */
export async function unchanged<R>(
  snapshot: () => Promise<unknown>,
  call: () => R | Promise<R>,
): Promise<{ error: unknown; result?: R }> {
  const before = await snapshot();
  tried.calls += 1;
  const done = await outcome(call);
  expect(await snapshot()).toEqual(before);
  return done;
}
