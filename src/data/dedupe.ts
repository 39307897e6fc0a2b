/**
 * Deduplicated puts: the public option and result types, the checks that turn them into
 * a store request, and the collapse of duplicates inside one call. Every key of a call is
 * computed and checked before anything is sent, so bad input writes nothing. The stores
 * do the rest atomically with the put (see docs/dedupe.md).
 */
import { createHash } from 'node:crypto';
import * as check from '../validate.js';
import { describe } from '../validate.js';
import { VisqRangeError, VisqTypeError } from '../errors.js';

/** The longest dedupe key accepted, in characters. */
export const MAX_DEDUPE_KEY_LENGTH = 512;
/** Default `window` of `until: 'window'`, seconds (SQS's deduplication interval). */
export const DEFAULT_DEDUPE_WINDOW = 300;
/** Default `window` of `until: 'done'`, seconds: the safety cap of a key held until done. */
export const DEFAULT_DEDUPE_CAP = 86_400;
/** The prefix of keys derived from payloads (`key: 'content'`). */
export const CONTENT_KEY_PREFIX = 'sha256:';

/** How long a dedupe key is held. */
export type DedupeUntil = 'window' | 'done';

/**
 * Option `dedupe` of {@link DataQueue.putData}: put an item only if no live item of the
 * queue holds its key. See docs/dedupe.md for the exact semantics.
 * @typeParam T - the item type.
 */
export interface DedupeOptions<T> {
  /**
   * The item's dedupe key: a function of the item and its index in the call returning a
   * string of 1 to 512 characters; `'content'` for equal payloads (the key is
   * `'sha256:'` + the hex SHA-256 of the item's JSON); or any other string, one key for
   * every item of the call (all but the first are duplicates).
   */
  key: string | ((item: T, index: number) => string);
  /**
   * Seconds, > 0 (at most 1e9). With `until: 'window'`, a key accepted at t makes every
   * later put with it a duplicate until t + window, even after the item is done.
   * With `until: 'done'` it is the safety cap: the key is freed at t + window at the
   * latest. Default 300 (`'window'`) or 86400 (`'done'`).
   */
  window?: number;
  /**
   * `'window'` (default): held for `window` seconds from the first accept. `'done'`:
   * held while the item exists (ready, delayed, in flight, across retries) and freed in
   * the same atomic step that finishes, dead-letters or drops it.
   */
  until?: DedupeUntil;
}

/** Options of a deduplicated {@link DataQueue.putData}. */
export interface DedupePutOptions<T> {
  /** See {@link DedupeOptions}. */
  dedupe: DedupeOptions<T>;
}

/**
 * One item's result of a deduplicated put, in input order.
 */
export interface PutResult {
  /** The new item's id, or for a duplicate the id of the item holding the key. */
  readonly id: string;
  /** True when the item was not written because another item holds its key. */
  readonly duplicate: boolean;
}

/** Who holds a dedupe key, as `dq.dedupe.get(key)` tells. */
export interface DedupeHolder {
  /** The id of the item that holds the key (it may be done already, with `until: 'window'`). */
  readonly id: string;
  /** When the key is freed at the latest (the window's end, or the cap of `'done'`). */
  readonly expiresAt: Date;
  /** How the key is held. */
  readonly until: DedupeUntil;
}

/** The store's view of a put's dedupe: one key per payload, all different. */
export interface DedupeRequest {
  readonly keys: readonly string[];
  readonly until: DedupeUntil;
  readonly windowMs: number;
}

/** A holder as the store reports it (expiry in ms). */
export interface RawDedupeHolder {
  readonly id: string;
  readonly expiresAtMs: number;
  readonly until: DedupeUntil;
}

/** The key function of a checked dedupe option: key of item i. */
export type DedupeKeyOf = (payload: string, index: number) => string;

/** A checked dedupe option, before the keys are computed. */
export interface CheckedDedupe {
  readonly until: DedupeUntil;
  readonly windowMs: number;
  /** The key of item `index`, given its JSON payload; throws a typed error for a bad key. */
  readonly keyOf: DedupeKeyOf;
}

/** The content key of a JSON payload. */
export function contentKey(payload: string): string {
  return CONTENT_KEY_PREFIX + createHash('sha256').update(payload).digest('hex');
}

/** Checks a dedupe key given to `dq.dedupe.get/clear` or returned by a key function. */
export function dedupeKey(name: string, value: unknown): string {
  return check.text(name, value, { maxLength: MAX_DEDUPE_KEY_LENGTH });
}

/**
 * Checks the `dedupe` option (`name` is where it was given, e.g. `opts.dedupe`).
 * `itemOf(i)` is the item whose payload is i, for the key function.
 */
export function dedupeOptions(name: string, value: unknown, itemOf: (index: number) => unknown): CheckedDedupe {
  const opts = check.options(name, value, ['key', 'window', 'until']);
  if (value === undefined) throw check.typeError(name, 'an options object with a `key`', value);
  const until = opts.until ?? 'window';
  if (until !== 'window' && until !== 'done') {
    throw new VisqTypeError(`Expected \`${name}.until\` to be 'window' or 'done', got ${describe(opts.until)}`);
  }
  let windowMs: number;
  if (opts.window === undefined) {
    windowMs = check.toMs(until === 'window' ? DEFAULT_DEDUPE_WINDOW : DEFAULT_DEDUPE_CAP);
  } else {
    const expected = `a number of seconds greater than 0 and at most ${check.MAX_SECONDS}`;
    if (typeof opts.window !== 'number') throw check.typeError(`${name}.window`, expected, opts.window);
    if (!Number.isFinite(opts.window) || opts.window <= 0 || opts.window > check.MAX_SECONDS) {
      throw check.rangeError(`${name}.window`, expected, opts.window);
    }
    windowMs = check.toMs(opts.window);
  }
  const key = opts.key;
  let keyOf: DedupeKeyOf;
  if (key === 'content') {
    keyOf = (payload) => contentKey(payload);
  } else if (typeof key === 'function') {
    const fn = key as (item: unknown, index: number) => unknown;
    keyOf = (_payload, index) => {
      const found = fn(itemOf(index), index);
      // the common case checked inline: the argument's name is built only for an error
      if (typeof found === 'string' && found.length > 0 && found.length <= MAX_DEDUPE_KEY_LENGTH) return found;
      return dedupeKey(`${name}.key(items[${index}])`, found);
    };
  } else if (typeof key === 'string') {
    // a fixed key: every item of the call has it, so all but the first are duplicates
    const fixed = dedupeKey(`${name}.key`, key);
    keyOf = () => fixed;
  } else {
    throw check.typeError(`${name}.key`, "'content', a string or a function (item, index) => string", key);
  }
  return { until, windowMs, keyOf };
}

/**
 * A call's keys collapsed to their first occurrence: `unique` are the indexes of the
 * items to send (in order), `first[i]` the index into `unique` that answers item i.
 */
export interface Collapsed {
  readonly keys: string[];
  readonly unique: number[];
  readonly first: number[];
}

/** Computes and checks every key of a call (nothing is sent before), then collapses repeats. */
export function collapseKeys(payloads: readonly string[], keyOf: DedupeKeyOf): Collapsed {
  const seen = new Map<string, number>();
  const keys: string[] = [];
  const unique: number[] = [];
  const first: number[] = [];
  for (let i = 0; i < payloads.length; i += 1) {
    const key = keyOf(payloads[i] as string, i);
    let at = seen.get(key);
    if (at === undefined) {
      at = unique.length;
      seen.set(key, at);
      unique.push(i);
      keys.push(key);
    }
    first.push(at);
  }
  return { keys, unique, first };
}

/**
 * The results in input order from the answers to the unique items: a repeat inside the
 * call is a duplicate of the first item with its key (whether that one was new or not).
 */
export function expandResults(collapsed: Collapsed, answers: PutResult[]): PutResult[] {
  // no key repeated in the call: the answers are the results
  if (collapsed.unique.length === collapsed.first.length) return answers;
  return collapsed.first.map((at, i) => {
    const answer = answers[at] as PutResult;
    return collapsed.unique[at] === i ? answer : { id: answer.id, duplicate: true };
  });
}

/** Refuses dedupe on a dead-letter queue, which never dedupes. */
export function refuseOnDeadLetters(): never {
  throw new VisqRangeError('Expected `opts.dedupe` to be undefined on a dead-letter queue, which never dedupes');
}

/** For a store without dedupe (PostgresStore, for now): refuses the option before anything is written. */
export function refuseUnsupportedStore(store: string): never {
  throw new VisqRangeError(`Expected \`opts.dedupe\` to be undefined: the ${store} does not support deduplicated puts yet (docs/dedupe.md)`);
}

/** `dq.dedupe`: who holds a dedupe key, and freeing one. */
export interface DedupeKeys {
  /**
   * The live holder of `key` (1 to 512 characters), or undefined when none holds it.
   * For a `'content'` key pass `'sha256:'` + the hex SHA-256 of the item's JSON.
   */
  get(key: string): Promise<DedupeHolder | undefined>;
  /** Frees `key` at once, whatever its mode; true if a live holder had it. The item stays. */
  clear(key: string): Promise<boolean>;
}

/** The backend calls `dq.dedupe` makes: a queue's dedupe keys, read and freed by key. */
interface DedupeBackend {
  dedupeHolder(key: string): Promise<RawDedupeHolder | undefined>;
  dedupeClear(key: string): Promise<boolean>;
}

/** `dq.dedupe` over a queue's backend; `ensureOpen` throws once the queue is closed. */
export function dedupeKeys(backend: DedupeBackend, ensureOpen: () => void): DedupeKeys {
  return {
    async get(key: string): Promise<DedupeHolder | undefined> {
      ensureOpen();
      const found = await backend.dedupeHolder(dedupeKey('key', key));
      return found && { id: found.id, expiresAt: new Date(found.expiresAtMs), until: found.until };
    },
    async clear(key: string): Promise<boolean> {
      ensureOpen();
      return backend.dedupeClear(dedupeKey('key', key));
    },
  };
}
