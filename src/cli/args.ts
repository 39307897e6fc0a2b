/**
 * Command-line parsing: `node:util` parseArgs per command, and checks of option and
 * argument values in the voice of src/validate.ts. Every problem becomes a UsageError
 * (exit 64) before anything connects to a store.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { VisqRangeError, VisqTypeError } from '../errors.js';
import { tokenOption } from '../observe/guard.js';
import { schemaName } from '../stores/postgres/store.js';
import * as check from '../validate.js';
import { UsageError } from './failures.js';
import { nearest } from './suggest.js';

type OptionsConfig = NonNullable<ParseArgsConfig['options']>;

/** What parseArgs returns for `options`, values typed by each option's `type`. */
export type ParsedCommandLine<O extends OptionsConfig> = ReturnType<
  typeof parseArgs<{ args: readonly string[]; options: O; allowPositionals: true; strict: true }>
>;

/** Options every command takes. */
export const COMMON_OPTIONS = {
  help: { type: 'boolean', short: 'h' },
  json: { type: 'boolean' },
} as const satisfies OptionsConfig;

/** Options of the commands that open their own store: a Redis or a PostgreSQL database. */
export const STORE_OPTIONS = {
  ...COMMON_OPTIONS,
  'redis-url': { type: 'string' },
  'pg-url': { type: 'string' },
  'pg-schema': { type: 'string' },
  prefix: { type: 'string' },
} as const satisfies OptionsConfig;

/** Parses `args` strictly against `options`: unknown options and missing values are usage errors. */
export function parseCommandLine<const O extends OptionsConfig>(args: readonly string[], options: O): ParsedCommandLine<O> {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (error) {
    // parseArgs reports command-line mistakes as TypeErrors with ERR_PARSE_ARGS_* codes
    if (error instanceof TypeError && String((error as { code?: unknown }).code).startsWith('ERR_PARSE_ARGS_')) {
      throw new UsageError(unknownOption(error.message, options) ?? error.message);
    }
    throw error;
  }
}

/**
 * parseArgs's message for an unknown option, rewritten to name the option meant when it
 * looks like a typo of one (`--concurency`). Its own text goes on about positionals that
 * start with '-', which is rarely what happened; that advice is kept, shorter, for the
 * other cases. `undefined` for every other message.
 */
function unknownOption(message: string, options: OptionsConfig): string | undefined {
  const typed = /^Unknown option '([^']*)'/.exec(message)?.[1];
  if (typed === undefined) return undefined;
  const meant = typed.startsWith('--') ? nearest(typed.slice(2), Object.keys(options)) : undefined;
  return meant === undefined
    ? `Unknown option '${typed}' (an argument that starts with '-' goes after '--', as in: -- ${typed})`
    : `Unknown option '${typed}'; did you mean '--${meant}'?`;
}

/**
 * Checks the number of positional arguments; `names` are the accepted ones in order, the
 * first `required` of them mandatory.
 */
export function positionals(values: readonly string[], names: readonly string[], required: number): string[] {
  if (values.length < required) {
    throw new UsageError(`Missing argument ${names.slice(values.length, required).map((n) => `<${n}>`).join(' ')}`);
  }
  if (values.length > names.length) {
    throw new UsageError(`Unexpected argument ${JSON.stringify(values[names.length])}`);
  }
  return [...values];
}

/** Runs a check of src/validate.ts and turns its argument errors into usage errors. */
function asUsage<T>(checkValue: () => T): T {
  try {
    return checkValue();
  } catch (error) {
    if (error instanceof VisqTypeError || error instanceof VisqRangeError) throw new UsageError(error.message);
    throw error;
  }
}

/**
 * A decimal literal as a number; anything else stays the string it was, so that the
 * message shows what was typed ("abc" (string)) rather than NaN.
 */
function numeric(raw: string): number | string {
  return /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(raw.trim()) ? Number(raw) : raw;
}

/** An integer argument from `min` to `max`. */
export function integerArg(name: string, raw: string, min: number, max: number): number {
  return asUsage(() => check.integerIn(name, numeric(raw), min, max));
}

/** A number of seconds, as visq's options take them. */
export function secondsArg(name: string, raw: string, opts: { exclusiveMin?: boolean } = {}): number {
  return asUsage(() => check.seconds(name, numeric(raw), opts));
}

/** A queue name, as DataQueue accepts it. */
export function queueArg(name: string, raw: string): string {
  return asUsage(() => check.text(name, raw, { maxLength: 256 }));
}

/** An item id (or task id), as DataQueue.inspect accepts it. */
export function itemIdArg(name: string, raw: string): string {
  return asUsage(() => check.text(name, raw, { maxLength: 512 }));
}

/** A key prefix, as DataQueue and Visq accept it; default `'visq'`. */
export function prefixArg(raw: string | undefined, name = '--prefix'): string {
  return raw === undefined ? 'visq' : asUsage(() => check.text(name, raw, { maxLength: 128, forbid: '{}' }));
}

/** A PostgreSQL schema name, as PostgresStore accepts it. */
export function schemaArg(name: string, raw: string): string {
  return asUsage(() => schemaName(name, raw));
}

/** A host name or address to listen on. */
export function hostArg(name: string, raw: string): string {
  return asUsage(() => check.text(name, raw, { maxLength: 255 }));
}

/** A dashboard token; `name` says where it came from (the flag or the environment variable). */
export function tokenArg(name: string, raw: string): string {
  return asUsage(() => tokenOption(name, raw));
}

/** A comma-separated list of queue names. */
export function queueListArg(name: string, raw: string): string[] {
  const names = raw
    .split(',')
    .map((q) => q.trim())
    .filter((q) => q.length > 0);
  if (names.length === 0) {
    throw new UsageError(`Expected \`${name}\` to be a comma-separated list of queue names, got ${check.describe(raw)}`);
  }
  return names.map((q, i) => queueArg(`${name}[${i}]`, q));
}
