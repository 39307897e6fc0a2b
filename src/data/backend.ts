/**
 * The storage seam: the narrow interface DataQueue talks to. The Redis backend runs one
 * Lua script per method; the MemoryStore implements the same contract in process.
 * Times here are milliseconds; the public API converts from seconds.
 */
import type { LeaseGroup } from './lease.js';
import type { SqlClient } from './options.js';
import type { DedupeRequest, PutResult, RawDedupeHolder } from './dedupe.js';
import type { LimitedBy, ReadLimits } from './limits.js';

/**
 * Item metadata: what visq carries beside an item's payload, never inside it. Today the
 * W3C trace context of the item's put, "<traceparent>[ <tracestate>]" (src/trace/carrier.ts);
 * '' or absent when the item has none. Opaque to stores, which keep it with the item
 * through retries, dead letters and redrive; it never contains '|'.
 */
export type ItemMeta = string;

/** What a put writes: JSON payloads, all with the same options. */
export interface PutRequest {
  readonly payloads: readonly string[];
  readonly delayMs: number;
  readonly priority: number;
  readonly ttlMs: number;
  /**
   * The items' metadata: absent or empty when none has any, one entry for every item of
   * the put, or one per payload.
   */
  readonly metas?: readonly ItemMeta[];
  /** The caller's transaction to write in; only given to a store that is `transactional`. */
  readonly db?: SqlClient;
  /**
   * Ordered groups (docs/groups.md): the items' group names, one for every item or one per
   * payload, and what a dead-lettered head does. Only with priority 0 and no ttl; only
   * given to a backend with {@link QueueBackend.groups}.
   */
  readonly group?: GroupPut;
}

/** The ordered-group part of a put (see {@link PutRequest.group}). */
export interface GroupPut {
  readonly names: readonly string[];
  readonly onDead: 'skip' | 'block';
}

/** One ordered group as a store lists it (see {@link QueueBackend.groups}). */
export interface RawGroup {
  readonly group: string;
  readonly state: 'ready' | 'held' | 'blocked' | 'idle';
  /** Items waiting in the group. */
  readonly depth: number;
  /** Items of the group out: leased, or held back by a release delay. */
  readonly inflight: number;
  /** Ms since the group's head (its oldest waiting item) entered the queue; -1 when none waits. */
  readonly headAgeMs: number;
}

/** How a read delivers. */
export interface ReadRequest {
  readonly count: number;
  readonly visTimeoutMs: number;
  readonly attempts: number;
  readonly useDead: boolean;
  /** The reader's rate limit and in-flight cap (data/limits.ts); absent for none. */
  readonly limits?: ReadLimits | undefined;
}

/** One delivered item as the store returns it. */
export interface RawDelivery {
  /** The lease; the item id when the read had no visibility timeout. */
  readonly lease: string;
  readonly id: string;
  /** 1 for the first delivery, 2 for the first redelivery, … */
  readonly delivery: number;
  readonly payload: string;
  /** The item's metadata, if it has any. */
  readonly meta?: ItemMeta;
}

/** The result of one read; `nextDueMs`/`cursor` are set when nothing was delivered. */
export interface ReadResult {
  readonly deliveries: RawDelivery[];
  /**
   * Ms until a delayed item or a lease deadline comes due; -1 when none is pending. For a
   * dead-letter queue, the next lease deadline of its queue counts too: a lease that
   * expires there can dead-letter an item without a put to signal it.
   */
  readonly nextDueMs: number;
  /** Change cursor to block on: a wait from it ends at the first put after the read. */
  readonly cursor: string;
  /**
   * Set when a pause or a limit held the read back (docs/rate-limits.md); `nextDueMs` is
   * then when that can end (-1: unknown). `rate`: the caller sleeps that long (nothing
   * else brings a token), `cursor` is unused. `paused` / `inflight`: `cursor` waits for
   * the pause to change or a lease to end (done, release), which puts do not end.
   */
  readonly limited?: LimitedBy;
}

/** A visible item as peek returns it. */
export interface RawItem {
  readonly id: string;
  readonly payload: string;
  /** The item's metadata, if it has any. */
  readonly meta?: ItemMeta;
}

/** Where one item is and how it got there, as inspect finds it. */
export interface RawItemInfo {
  readonly id: string;
  readonly state: 'ready' | 'delayed' | 'inflight';
  readonly payload: string;
  readonly priority: number;
  /** Deliveries that ended without done. */
  readonly failedDeliveries: number;
  /** delayed: when it becomes visible; inflight: the lease deadline (ms). */
  readonly until?: number;
  /** inflight: the live lease. */
  readonly lease?: string;
}

/** Counts and running totals read in one atomic step (see stats.lua). */
export interface RawStats {
  readonly ready: number;
  readonly delayed: number;
  readonly inflight: number;
  readonly dead: number;
  readonly expired: number;
  readonly dropped: number;
  readonly puts: number;
  readonly deliveries: number;
  readonly dones: number;
  readonly expiries: number;
  readonly deadLettered: number;
  readonly emptyReads: number;
  /** ms since the next item to be delivered entered the queue; -1 when none is ready. */
  readonly headAgeMs: number;
}

/** How release ends deliveries; see {@link QueueBackend.release}. */
export type ReleaseMode =
  | { readonly kind: 'count'; readonly delayMs: number }
  | { readonly kind: 'keep'; readonly delayMs: number }
  | { readonly kind: 'fail'; readonly useDead: boolean };

/** What became of a released delivery. */
export type ReleaseOutcome = 'requeued' | 'dead' | 'dropped';

/** One queue (with its dead-letter queue) in a store. */
export interface QueueBackend {
  put(request: PutRequest): Promise<string[]>;
  /**
   * A put of the payloads whose keys (`dedupe.keys[i]` for payload i, all different) no
   * live item holds, in one atomic step with the keys' claims; one result per payload, in
   * order (a duplicate carries the holder's id). See data/dedupe.ts and docs/dedupe.md.
   */
  putDeduped(request: PutRequest, dedupe: DedupeRequest): Promise<PutResult[]>;
  /** Who holds the dedupe key now, if anyone (after bringing the queue up to date with time). */
  dedupeHolder(key: string): Promise<RawDedupeHolder | undefined>;
  /** Frees the dedupe key; true if a live holder had it. */
  dedupeClear(key: string): Promise<boolean>;
  read(request: ReadRequest): Promise<ReadResult>;
  /** `db`: the caller's transaction to finish in; only given to a store that is `transactional`. */
  done(groups: readonly LeaseGroup[], db?: SqlClient): Promise<number>;
  /** As done, but tells which leases were finished. */
  doneLeases(groups: readonly LeaseGroup[]): Promise<string[]>;
  refresh(groups: readonly LeaseGroup[], visTimeoutMs: number): Promise<string[]>;
  /**
   * Ends live deliveries without done. `count`: a failed delivery (requeued after
   * `delayMs`, or dead-lettered/dropped when the item's attempts are spent); `keep`: never
   * worked on (requeued, no attempt used); `fail`: a final failure (dead-lettered when
   * `useDead`, else dropped, whatever the attempts).
   */
  release(groups: readonly LeaseGroup[], mode: ReleaseMode): Promise<Map<string, ReleaseOutcome>>;
  peek(count: number): Promise<RawItem[]>;
  stats(): Promise<RawStats>;
  /**
   * Every ordered group of the queue that has items waiting or out, or is blocked (after
   * bringing the queue up to date with time). A diagnostic: O(groups + grouped items out),
   * read in atomic pages, not atomic as a whole. Absent on a store without ordered
   * groups, which also refuses grouped puts.
   */
  groups?(): Promise<RawGroup[]>;
  /**
   * Lets the groups among `groups` that a dead-lettered head blocks go on; resolves how
   * many were blocked. Present with {@link QueueBackend.groups}.
   */
  unblockGroups?(groups: readonly string[]): Promise<number>;
  redrive(count: number): Promise<number>;
  /**
   * Finds one item by id in this queue (not its dead-letter queue), after bringing the
   * queue up to date with time: in flight first, then delayed, then ready. A diagnostic:
   * it scans without blocking the store, so it is not atomic and costs O(queue size).
   */
  inspect(id: string): Promise<RawItemInfo | undefined>;
  clear(): Promise<void>;
  /**
   * Pauses every read of the queue for `pauseMs` from now (store time), or lifts the
   * pause (0), and wakes the readers the pause holds. Resolves the pause's end (ms since
   * the epoch), 0 when lifted.
   */
  limit(pauseMs: number): Promise<number>;
  /**
   * Blocks until something is put after `cursor` was read, `timeoutMs` passes or `signal`
   * aborts; never polls. Spurious wake-ups are allowed: the caller reads again.
   */
  waitForChange(cursor: string, timeoutMs: number, signal?: AbortSignal): Promise<void>;
  /**
   * waitForChange, then read: on Redis in one round trip (the read is queued behind the
   * blocking wait on the same connection, so Redis runs it the moment the wait ends).
   * Resolves `undefined`, with nothing leased, when `signal` aborted the wait; if the
   * read had already run, its leased items go back first (no attempt used, not counted
   * as delivered), and items read at most once (visibility timeout 0), which have left
   * the queue, are returned.
   */
  waitThenRead(cursor: string, timeoutMs: number, request: ReadRequest, signal?: AbortSignal): Promise<ReadResult | undefined>;
  /**
   * A backend for the dead-letter queue of this one. Its reads (read, peek, stats,
   * redrive, inspect) first bring this queue up to date with time, so that items whose
   * last delivery ended are there whether or not anyone uses this queue; an empty read
   * is due again at this queue's next lease deadline at the latest.
   */
  dead(): QueueBackend;
}

/** A store of queues: the Redis connection wrapper, the MemoryStore or the PostgresStore. */
export interface QueueStore {
  /**
   * True when puts and dones can run in the caller's database transaction (the `db`
   * option); DataQueue refuses the option for any other store before anything is written.
   */
  readonly transactional?: boolean;
  /** The backend of the queue whose key base is `base` (`{prefix:name}`). */
  open(base: string): QueueBackend;
  /** Records that the queue `name` exists under `prefix` (its first put), for discovery. */
  registerQueue(prefix: string, name: string): Promise<void>;
  /** Forgets the queue `name` under `prefix` (it was cleared). */
  forgetQueue(prefix: string, name: string): Promise<void>;
  /** The names of the queues registered under `prefix`, sorted. */
  queueNames(prefix: string): Promise<string[]>;
  /**
   * Resolves once the store has answered a round trip; rejects with a StoreError that
   * says where the store is (never with a password) and why it cannot be reached, at the
   * first connection failure or after `timeoutMs`. For a start-up check: a store's own
   * retries would otherwise hide an unreachable server behind later, vaguer failures.
   */
  checkConnection(timeoutMs: number): Promise<void>;
  /** Releases the store's own resources (blocking connections); never the caller's. */
  close(): Promise<void>;
}

/** The metadata of item `i` of a put (see {@link PutRequest.metas}); '' when it has none. */
export function putMeta(metas: readonly ItemMeta[] | undefined, i: number): ItemMeta {
  if (metas === undefined || metas.length === 0) return '';
  return (metas.length === 1 ? metas[0] : metas[i]) ?? '';
}

/** The earlier of two due times in ms from now, either -1 for none. */
export function earlierDue(a: number, b: number): number {
  if (a < 0) return b;
  return b < 0 ? a : Math.min(a, b);
}

/**
 * `backend.waitThenRead` as two calls, for a backend that cannot queue the read behind
 * the wait: the read runs only if the wait was not aborted.
 */
export async function waitThenReadInTwoSteps(
  backend: QueueBackend,
  cursor: string,
  timeoutMs: number,
  request: ReadRequest,
  signal?: AbortSignal,
): Promise<ReadResult | undefined> {
  await backend.waitForChange(cursor, timeoutMs, signal);
  return signal?.aborted ? undefined : backend.read(request);
}
