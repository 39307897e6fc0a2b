/**
 * Rate limits, in-flight caps and pauses of a queue (docs/rate-limits.md): the option
 * types, their checks, and what a read passes to the store. The limits are the reader's
 * (every reader of a queue should declare the same); their state is the store's (one
 * GCRA theoretical arrival time per queue, the pause, the live leases), so every reader
 * of the queue, in any process, shares it.
 */
import { VisqRangeError } from '../errors.js';
import * as check from '../validate.js';

/**
 * A GCRA (generic cell rate algorithm) token bucket: a read gets at most `burst` items at
 * once, and on average at most `perSecond` items per second, shared by every reader of
 * the queue. Unlike a fixed window it never allows twice the burst across a window edge.
 */
export interface RateLimit {
  /**
   * Items per second, greater than 0 and at most 1,000,000; may be fractional (`0.5`:
   * one item every two seconds). The interval between items is kept in whole
   * microseconds (1e6 / perSecond, rounded).
   */
  perSecond: number;
  /**
   * Items a read may take at once after the queue was idle: an integer from 1 to
   * 1,000,000. Default: one second's worth, `Math.max(1, Math.ceil(perSecond))`.
   */
  burst?: number;
}

/** The limits of a queue's reads (part of {@link DataQueueOptions} and of task options). */
export interface LimitOptions {
  /** Rate limit of the queue's deliveries. Default: none. */
  rateLimit?: RateLimit;
  /**
   * Most items leased at once across all readers of the queue: an integer from 1 to
   * 1,000,000. Counted by the live leases, so done, release, fail and lease expiry free
   * slots. Reads that lease nothing (visibility timeout 0, at most once) cannot be
   * counted, so they are refused on a queue with maxInflight. Default: none.
   */
  maxInflight?: number;
}

/** Validated limits: what a read passes to the store. */
export interface ReadLimits {
  /** GCRA emission interval in µs (1e6 / perSecond, rounded, at least 1); 0: no rate limit. */
  readonly intervalUs: number;
  /** Items that may go at once (the bucket's size); 0 with no rate limit. */
  readonly burst: number;
  /** Most items leased at once; 0: no cap. */
  readonly maxInflight: number;
}

/** Why a read that delivered nothing stopped although items may be visible. */
export type LimitedBy = 'rate' | 'paused' | 'inflight';

/** The largest perSecond, burst and maxInflight accepted. */
export const MAX_LIMIT = 1_000_000;

/** The longest pause `limit(seconds)` accepts: about 31 years, as any visq time. */
export const MAX_PAUSE_SECONDS = check.MAX_SECONDS;

/** Validated `rateLimit` and `maxInflight` (`where`: the options' name, e.g. 'options'); undefined for none. */
export function limitSettings(where: string, rateLimit: unknown, maxInflight: unknown): ReadLimits | undefined {
  if (rateLimit === undefined && maxInflight === undefined) return undefined;
  let intervalUs = 0;
  let burst = 0;
  if (rateLimit !== undefined) {
    const opts = check.options(`${where}.rateLimit`, rateLimit, ['perSecond', 'burst']);
    const name = `${where}.rateLimit.perSecond`;
    const expected = `a number of items per second greater than 0 and at most ${MAX_LIMIT}`;
    const perSecond = opts.perSecond;
    if (typeof perSecond !== 'number') throw check.typeError(name, expected, perSecond);
    if (!Number.isFinite(perSecond) || perSecond <= 0 || perSecond > MAX_LIMIT) throw check.rangeError(name, expected, perSecond);
    intervalUs = Math.max(1, Math.round(1e6 / perSecond));
    burst =
      opts.burst === undefined
        ? Math.max(1, Math.ceil(perSecond))
        : check.integerIn(`${where}.rateLimit.burst`, opts.burst, 1, MAX_LIMIT);
  }
  const cap = maxInflight === undefined ? 0 : check.integerIn(`${where}.maxInflight`, maxInflight, 1, MAX_LIMIT);
  return { intervalUs, burst, maxInflight: cap };
}

/** A pause's length: seconds from 0 (lifts a pause) to MAX_PAUSE_SECONDS, as ms. */
export function pauseMs(value: unknown): number {
  return check.toMs(check.seconds('seconds', value, { max: MAX_PAUSE_SECONDS }));
}

/** The limits as the Redis scripts take them: '' for none, else "<intervalUs>:<burst>:<maxInflight>". */
export function limitsArg(limits: ReadLimits | undefined): string {
  return limits ? `${limits.intervalUs}:${limits.burst}:${limits.maxInflight}` : '';
}

/** The reason letter a script or statement returns for a limited empty read. */
export function limitedBy(code: unknown): LimitedBy | undefined {
  if (code === 'r') return 'rate';
  if (code === 'p') return 'paused';
  if (code === 'i') return 'inflight';
  return undefined;
}

/**
 * Refuses a read that would lease nothing (visibility timeout 0, at most once) on a queue
 * with maxInflight: the cap counts leases, so such a read could never be counted.
 */
export function checkLeasedUnderCap(limits: ReadLimits | undefined, visTimeoutMs: number): void {
  if (!limits || limits.maxInflight === 0 || visTimeoutMs > 0) return;
  throw new VisqRangeError(
    'Expected `opts.visTimeout` to be a number of seconds greater than 0 on a queue with `maxInflight` ' +
      '(the cap counts leases, and an at-most-once read leases nothing), got 0 (the queue\'s default when left out)',
  );
}

/**
 * The GCRA bucket at `nowMs` (the stores' twin of gate_read in lib/limits.lua): `tat`
 * is the arrival time to spend from (µs), `tokens` how many items may go now, and when
 * none, `waitMs` until the next one is due.
 */
export function bucketAt(tatUs: number, nowMs: number, limits: ReadLimits): { tat: number; tokens: number; waitMs: number } {
  const nowUs = nowMs * 1000;
  const tat = Math.max(tatUs, nowUs);
  const tokens = Math.floor((nowUs + limits.burst * limits.intervalUs - tat) / limits.intervalUs);
  const waitMs = tokens > 0 ? 0 : Math.ceil((tat - (limits.burst - 1) * limits.intervalUs - nowUs) / 1000);
  return { tat, tokens, waitMs };
}
