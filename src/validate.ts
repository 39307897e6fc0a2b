/**
 * Argument checks for the public boundary. Each check throws a {@link VisqTypeError} or
 * {@link VisqRangeError} whose message names the argument, what is accepted and what was
 * given, in one voice: "Expected `count` to be an integer from 1 to 1000, got 0 (number)".
 */
import { VisqRangeError, VisqTypeError } from './errors.js';

/** The largest number of seconds visq accepts for a delay, timeout or ttl (~31 years). */
export const MAX_SECONDS = 1e9;

/** Describes a value for an error message: its printable form and its type. */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  switch (typeof value) {
    case 'number':
    case 'boolean':
    case 'bigint':
      return `${String(value)} (${typeof value})`;
    case 'string': {
      const shown = value.length > 40 ? `${value.slice(0, 40)}…` : value;
      return `${JSON.stringify(shown)} (string)`;
    }
    case 'symbol':
      return `${String(value)} (symbol)`;
    case 'function':
      return 'a function';
    default: {
      if (Array.isArray(value)) return `an array of length ${value.length}`;
      const ctor = (value as { constructor?: { name?: unknown } }).constructor?.name;
      return typeof ctor === 'string' && ctor !== 'Object' ? `an instance of ${ctor}` : 'an object';
    }
  }
}

/** A TypeError in the standard voice. */
export function typeError(name: string, expected: string, value: unknown): VisqTypeError {
  return new VisqTypeError(`Expected \`${name}\` to be ${expected}, got ${describe(value)}`);
}


/** A RangeError in the standard voice. */
export function rangeError(name: string, expected: string, value: unknown): VisqRangeError {
  return new VisqRangeError(`Expected \`${name}\` to be ${expected}, got ${describe(value)}`);
}

/** An integer from `min` to `max`; `NaN` and fractions are range errors. */
export function integerIn(name: string, value: unknown, min: number, max: number): number {
  const expected = `an integer from ${min} to ${max}`;
  if (typeof value !== 'number') throw typeError(name, expected, value);
  if (!Number.isInteger(value) || value < min || value > max) throw rangeError(name, expected, value);
  return value;
}

/**
 * Seconds from 0 (inclusive, or exclusive when `exclusiveMin`) to `max` (default
 * {@link MAX_SECONDS}); `about` is added to the accepted range in the message, e.g. why
 * the maximum is what it is.
 */
export function seconds(
  name: string,
  value: unknown,
  opts: { exclusiveMin?: boolean; max?: number; about?: string } = {},
): number {
  const max = opts.max ?? MAX_SECONDS;
  const range = opts.exclusiveMin ? `a number of seconds greater than 0 and at most ${max}` : `a number of seconds from 0 to ${max}`;
  const expected = opts.about === undefined ? range : `${range} (${opts.about})`;
  if (typeof value !== 'number') throw typeError(name, expected, value);
  if (Number.isNaN(value) || value < 0 || value > max || (opts.exclusiveMin && value === 0)) {
    throw rangeError(name, expected, value);
  }
  return value;
}

/** Seconds as whole milliseconds, rounded up so that a positive time stays positive. */
export function toMs(secondsValue: number): number {
  return Math.ceil(secondsValue * 1000);
}

export function boolean(name: string, value: unknown): boolean {
  if (typeof value !== 'boolean') throw typeError(name, 'a boolean', value);
  return value;
}

/** A non-empty string of at most `maxLength` characters, optionally without some characters. */
export function text(name: string, value: unknown, opts: { maxLength?: number; forbid?: string } = {}): string {
  const maxLength = opts.maxLength ?? 256;
  const forbidden = opts.forbid ? `, without any of ${JSON.stringify(opts.forbid)}` : '';
  const expected = `a non-empty string of at most ${maxLength} characters${forbidden}`;
  if (typeof value !== 'string') throw typeError(name, expected, value);
  if (value.length === 0 || value.length > maxLength) throw rangeError(name, expected, value);
  if (opts.forbid && [...opts.forbid].some((ch) => value.includes(ch))) throw rangeError(name, expected, value);
  return value;
}

export function abortSignal(name: string, value: unknown): AbortSignal {
  if (!(value instanceof AbortSignal)) throw typeError(name, 'an AbortSignal', value);
  return value;
}

/**
 * An options argument: `undefined` or a plain object whose keys are all known. Unknown
 * keys are rejected so that a typo (`visTimout`) fails loudly instead of being ignored.
 */
export function options<K extends string>(
  name: string,
  value: unknown,
  known: readonly K[],
): Partial<Record<K, unknown>> {
  if (value === undefined) return {};
  // a Map, a Date or a boxed number has no own keys and would read as "no options"
  if (value === null || typeof value !== 'object' || ![Object.prototype, null].includes(Object.getPrototypeOf(value))) {
    throw typeError(name, 'an options object', value);
  }
  for (const key of Object.keys(value)) {
    if (!(known as readonly string[]).includes(key)) {
      throw new VisqTypeError(
        `Unknown option \`${name}.${key}\`; known options are ${known.map((k) => `\`${k}\``).join(', ')}`,
      );
    }
  }
  return value as Partial<Record<K, unknown>>;
}
