/**
 * The option and result types of DataQueue, with their defaults, and the checks that
 * turn user input into validated values (in one place, at the boundary).
 */
import { VisqRangeError } from '../errors.js';
import * as check from '../validate.js';
import { describe } from '../validate.js';
import { limitSettings, type LimitOptions, type ReadLimits } from './limits.js';
import { groupQueueOptions, type GroupOption, type GroupQueueOptions, type GroupSettings } from './groups.js';

/**
 * Options of `new DataQueue(store, name, options)`; `rateLimit` and `maxInflight` (see
 * {@link LimitOptions} and docs/rate-limits.md) limit this handle's reads.
 */
export interface DataQueueOptions extends LimitOptions {
  /**
   * Default lease length in seconds for {@link DataQueue.getData}. `0` (the default) makes
   * the queue at-most-once: items are removed as they are read and need no done.
   */
  visTimeout?: number;
  /**
   * Total deliveries allowed per item when reads use a visibility timeout (integer >= 1,
   * default 1). After the last one expires the item is dead-lettered or dropped.
   */
  attempts?: number;
  /** Move items whose attempts are spent to {@link DataQueue.dead} instead of dropping them. Default `false`. */
  useDead?: boolean;
  /** Key prefix; keys of this queue contain the hash tag `{prefix:name}`. Default `'visq'`. */
  prefix?: string;
  /** Largest accepted item, in bytes of JSON. Default 1 MiB. */
  maxItemBytes?: number;
  /** Ordered groups: what a dead-lettered head does (docs/groups.md). Default `{ onDead: 'skip' }`. */
  groups?: GroupQueueOptions;
}

/**
 * A database client in the caller's open transaction, for a store that can join it
 * (PostgresStore): anything with `query(text, values) => Promise<{ rows }>` that takes
 * `$1`-style placeholders, such as a `pg` client after `BEGIN`. docs/postgres.md shows
 * adapters for knex, Kysely, Drizzle and Prisma.
 */
export interface SqlClient {
  query(text: string, values: unknown[]): Promise<{ rows: unknown[] }>;
}

/** Options of {@link DataQueue.putData}. */
export interface PutOptions<T = unknown> {
  /** Seconds to keep the items hidden before they become visible. Default 0. */
  delay?: number;
  /** Integer from -1000 to 1000; higher is read first, FIFO within a priority. Default 0. */
  priority?: number;
  /**
   * Seconds an item may stay visible without being read before it is dropped (counted
   * in `stats().expired`). The window starts again whenever the item becomes visible
   * (after its delay, after a lease expires). Default: no expiry (`0` means the same).
   */
  ttl?: number;
  /**
   * Put the items inside this open transaction (PostgresStore only): they are invisible
   * until it commits and never exist if it rolls back. Other stores reject the option.
   */
  db?: SqlClient;
  /**
   * Put the items in ordered groups (docs/groups.md): a group name for every item, or a
   * function `(item, index) => group name`. Items of one group are delivered in put order,
   * one head run at a time. Names are 1 to 512 characters without `"\0"`. Not with
   * `priority` or `ttl`; not on a PostgresStore (yet). Default: no group.
   */
  group?: GroupOption<T>;
}

/** Options of {@link DataQueue.doneData}. */
export interface DoneOptions {
  /**
   * Finish the items inside this open transaction (PostgresStore only), with the side
   * effects of handling them: a done that is rolled back did not happen, and the items
   * stay locked until the transaction ends. Other stores reject the option.
   */
  db?: SqlClient;
}

/** Options of {@link DataQueue.getData}. */
export interface GetOptions {
  /** Lease length in seconds for this read; `0` reads at-most-once. Default: the queue's. */
  visTimeout?: number;
  /**
   * When nothing is visible, block up to this many seconds (without polling) until an
   * item becomes visible; then return what there is, possibly nothing. From 0 to 3600
   * (one hour): a longer wait is a `RangeError`, since it is almost always
   * milliseconds by mistake. Default 0.
   */
  wait?: number;
  /** Ends a blocking wait early; the read then returns what there is. */
  signal?: AbortSignal;
}

/** Options of {@link DataQueue.refreshData}. */
export interface RefreshOptions {
  /** New lease length in seconds from now, > 0. Default: the queue's visTimeout. */
  visTimeout?: number;
}

/** Options of {@link DataQueue.releaseData}. */
export interface ReleaseOptions {
  /** Seconds before the released items are visible again. Default 0 (at once). */
  delay?: number;
  /**
   * Whether the ended delivery uses one of the item's attempts. Default `true` (the
   * delivery failed). Pass `false` to hand back items that were never worked on.
   */
  countDelivery?: boolean;
}

/** Options of {@link DataQueue.failData}. */
export interface FailOptions {
  /**
   * Dead-letter the items (`true`) or drop them (`false`). Default: the queue's `useDead`.
   * A dead-letter queue never dead-letters: there only `false` is accepted.
   */
  useDead?: boolean;
}

/** Counts of {@link DataQueue.stats}, read in one atomic step. */
export interface QueueStats {
  /** Visible items waiting to be read. */
  readonly ready: number;
  /** Items hidden by a delay (or a release delay). */
  readonly delayed: number;
  /** Items delivered under a live lease. */
  readonly inflight: number;
  /** Items held by the dead-letter queue, whatever their state there. */
  readonly dead: number;
  /** Running total: items dropped because their ttl passed before they were read. */
  readonly expired: number;
  /** Running total: items dropped because their attempts were spent without dead letters. */
  readonly dropped: number;
  /** Running total: items put. */
  readonly puts: number;
  /** Running total: deliveries (items returned by reads). */
  readonly deliveries: number;
  /** Running total: items finished by doneData. */
  readonly dones: number;
  /** Running total: leases that expired without done (each a redelivery, a dead letter or a drop). */
  readonly expiries: number;
  /** Running total: items moved to the dead-letter queue. */
  readonly deadLettered: number;
  /** Running total: reads that found nothing (a read a pause or a limit held back does not look, and is not counted). */
  readonly emptyReads: number;
  /**
   * Seconds since the next item a read would deliver entered the queue (put, or
   * dead-lettered / redriven into it); 0 when nothing is ready.
   */
  readonly headAge: number;
}

/** One delivery of {@link DataQueue.getDeliveries}. */
export interface Delivery<T> {
  /** The lease of this delivery (the item id when read without a visibility timeout). */
  readonly lease: string;
  /** The item id, as returned by putData. */
  readonly id: string;
  /** 1 for the first delivery of the item, 2 for the next, … */
  readonly delivery: number;
  /** The item. */
  readonly item: T;
}

/** What {@link DataQueue.inspect} finds about one item. */
export interface ItemInfo<T> {
  readonly id: string;
  /** `dead`: held by the dead-letter queue, in any state there. */
  readonly state: 'ready' | 'delayed' | 'inflight' | 'dead';
  readonly item: T;
  readonly priority: number;
  /** Deliveries so far, the current one included when in flight. */
  readonly deliveries: number;
  /** When a delayed item becomes visible. */
  readonly visibleAt?: Date;
  /** When the current lease of an item in flight ends. */
  readonly leaseUntil?: Date;
  /** The current lease of an item in flight. */
  readonly lease?: string;
}

/** Result of {@link DataQueue.releaseData}. */
export interface ReleaseResult {
  /** Leases whose items are visible again (or will be, after the delay). */
  readonly requeued: Set<string>;
  /** Leases whose items had spent their attempts: dead-lettered or dropped. */
  readonly exhausted: Set<string>;
}

/** Validated queue settings. */
export interface QueueSettings {
  readonly visTimeout: number;
  readonly attempts: number;
  readonly useDead: boolean;
  readonly prefix: string;
  readonly maxItemBytes: number;
  /** The read limits (rateLimit, maxInflight); undefined for none. */
  readonly limits?: ReadLimits | undefined;
  /** Ordered groups: what a dead-lettered head does. */
  readonly groups: GroupSettings;
}

/**
 * The longest blocking read `getData` accepts, in seconds: one hour. A longer `wait` is
 * almost always milliseconds by mistake (`wait: 10000` would block for close to three
 * hours on an empty queue), so it is refused; a caller that means to wait longer loops.
 */
export const MAX_WAIT_SECONDS = 3600;

/** Items per atomic write and largest read. */
export const MAX_BATCH = 1000;
/** Highest accepted attempts (a bound that keeps counters exact). */
export const MAX_ATTEMPTS = 1_000_000;
/** Default largest item: 1 MiB of JSON. */
export const DEFAULT_MAX_ITEM_BYTES = 1024 * 1024;

export function queueSettings(name: unknown, value: unknown): { name: string; settings: QueueSettings } {
  // a '}' would end the hash tag early and let two queues' keys collide (see keys.ts)
  const checkedName = check.text('name', name, { maxLength: 256, forbid: '}' });
  const opts = check.options('options', value, [
    'visTimeout',
    'attempts',
    'useDead',
    'prefix',
    'maxItemBytes',
    'rateLimit',
    'maxInflight',
    'groups',
  ]);
  const limits = limitSettings('options', opts.rateLimit, opts.maxInflight);
  const settings = {
    visTimeout: opts.visTimeout === undefined ? 0 : check.seconds('options.visTimeout', opts.visTimeout),
    attempts: opts.attempts === undefined ? 1 : check.integerIn('options.attempts', opts.attempts, 1, MAX_ATTEMPTS),
    useDead: opts.useDead === undefined ? false : check.boolean('options.useDead', opts.useDead),
    prefix: opts.prefix === undefined ? 'visq' : check.text('options.prefix', opts.prefix, { maxLength: 128, forbid: '{}' }),
    maxItemBytes:
      opts.maxItemBytes === undefined
        ? DEFAULT_MAX_ITEM_BYTES
        : check.integerIn('options.maxItemBytes', opts.maxItemBytes, 1, 512 * 1024 * 1024),
    ...(limits ? { limits } : {}),
  };
  return { name: checkedName, settings: { ...settings, groups: groupQueueOptions(opts.groups, settings.useDead) } };
}

export function putOptions(value: unknown): {
  delayMs: number;
  priority: number;
  ttlMs: number;
  db: SqlClient | undefined;
  /** The raw `group` option, checked with the items (see data/groups.ts). */
  group: unknown;
} {
  const opts = check.options('opts', value, ['delay', 'priority', 'ttl', 'db', 'group']);
  return {
    group: opts.group,
    delayMs: opts.delay === undefined ? 0 : check.toMs(check.seconds('opts.delay', opts.delay)),
    priority: opts.priority === undefined ? 0 : check.integerIn('opts.priority', opts.priority, -1000, 1000),
    ttlMs: opts.ttl === undefined ? 0 : check.toMs(check.seconds('opts.ttl', opts.ttl)),
    db: sqlClient('opts.db', opts.db),
  };
}

export function doneOptions(value: unknown): SqlClient | undefined {
  return sqlClient('opts.db', check.options('opts', value, ['db']).db);
}

/** An optional `db` option: undefined, or an object with a `query` method. */
export function sqlClient(name: string, value: unknown): SqlClient | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'object' || value === null || typeof (value as SqlClient).query !== 'function') {
    throw check.typeError(name, 'a database client with a query(text, values) method, in an open transaction', value);
  }
  return value as SqlClient;
}

export function countArg(value: unknown): number {
  return check.integerIn('count', value, 1, MAX_BATCH);
}

export function getOptions(
  value: unknown,
  settings: QueueSettings,
): { visTimeoutMs: number; waitMs: number; signal: AbortSignal | undefined } {
  const opts = check.options('opts', value, ['visTimeout', 'wait', 'signal']);
  const visTimeout = opts.visTimeout === undefined ? settings.visTimeout : check.seconds('opts.visTimeout', opts.visTimeout);
  return {
    visTimeoutMs: check.toMs(visTimeout),
    waitMs:
      opts.wait === undefined
        ? 0
        : check.toMs(
            check.seconds('opts.wait', opts.wait, {
              max: MAX_WAIT_SECONDS,
              about: 'one hour; times are in seconds, not milliseconds',
            }),
          ),
    signal: opts.signal === undefined ? undefined : check.abortSignal('opts.signal', opts.signal),
  };
}

export function refreshOptions(value: unknown, settings: QueueSettings): number {
  const opts = check.options('opts', value, ['visTimeout']);
  if (opts.visTimeout === undefined) {
    if (settings.visTimeout > 0) return check.toMs(settings.visTimeout);
    throw new VisqRangeError(
      'Expected `opts.visTimeout` to be a number of seconds greater than 0, got undefined and the queue has no default visTimeout',
    );
  }
  return check.toMs(check.seconds('opts.visTimeout', opts.visTimeout, { exclusiveMin: true }));
}

export function releaseOptions(value: unknown): { delayMs: number; countDelivery: boolean } {
  const opts = check.options('opts', value, ['delay', 'countDelivery']);
  return {
    delayMs: opts.delay === undefined ? 0 : check.toMs(check.seconds('opts.delay', opts.delay)),
    countDelivery: opts.countDelivery === undefined ? true : check.boolean('opts.countDelivery', opts.countDelivery),
  };
}

export function redriveCount(value: unknown): number | undefined {
  if (value === undefined) return undefined;
  return check.integerIn('count', value, 0, Number.MAX_SAFE_INTEGER);
}

/**
 * Whether failData dead-letters. A dead-letter queue has no dead-letter queue of its own
 * (it never dead-letters): `useDead: true` there is refused rather than writing a hidden
 * queue nothing reads or clears.
 */
export function failOptions(value: unknown, settings: QueueSettings, deadLetterQueue: boolean): boolean {
  const opts = check.options('opts', value, ['useDead']);
  if (opts.useDead === undefined) return settings.useDead;
  const useDead = check.boolean('opts.useDead', opts.useDead);
  if (useDead && deadLetterQueue) {
    throw new VisqRangeError(
      `Expected \`opts.useDead\` to be false or left out on a dead-letter queue, which never dead-letters (its failed items are dropped), got ${describe(useDead)}`,
    );
  }
  return useDead;
}
