/**
 * DataQueue: the primitive. Items go in with putData, come out with getData under a
 * lease that hides them for a visibility timeout, and are finished with doneData; an
 * item not done in time comes back, up to `attempts` deliveries, then goes to the
 * dead-letter queue or away. See docs/guarantees.md for the exact semantics.
 */
import { setMaxListeners } from 'node:events';
import { ClosedError, VisqRangeError, VisqTypeError } from '../errors.js';
import * as check from '../validate.js';
import { describe } from '../validate.js';
import type { GroupPut, QueueBackend, QueueStore, RawDelivery, RawItemInfo } from './backend.js';

export type { StoreLike };
import { decodeItem, encodeItem } from './codec.js';
import { queueBase } from './keys.js';
import { queueStats } from './stats.js';
import { RegistryEntry } from './registry.js';
import { collectLeases, parseLease } from './lease.js';
import {
  countArg,
  doneOptions,
  failOptions,
  MAX_ATTEMPTS,
  getOptions,
  MAX_BATCH,
  putOptions,
  queueSettings,
  redriveCount,
  refreshOptions,
  releaseOptions,
  type DataQueueOptions,
  type Delivery,
  type DoneOptions,
  type FailOptions,
  type ItemInfo,
  type GetOptions,
  type PutOptions,
  type QueueSettings,
  type QueueStats,
  type RefreshOptions,
  type ReleaseOptions,
  type ReleaseResult,
  type SqlClient,
} from './options.js';
import { checkTransactional, resolveStore, type StoreLike } from './store.js';
import { checkLeasedUnderCap, pauseMs } from './limits.js';
import { sleep } from '../sleep.js';
import { busiest, checkGroupPut, groupNames, groupsLimit, unblockNames, type GroupsOptions, type GroupStats } from './groups.js';
import {
  collapseKeys,
  dedupeKeys,
  dedupeOptions,
  expandResults,
  refuseOnDeadLetters,
  type DedupeKeys,
  type DedupeOptions,
  type DedupePutOptions,
  type PutResult,
} from './dedupe.js';
import { traceReceive, traceSend, traceSettle } from '../trace/spans.js';

/**
 * Key of a DataQueue method for visq's own tools, not exported from the package: a read
 * whose lease, if it expires, never spends an item's last attempt (see `forward`).
 */
export const readKeepingAttempts = Symbol('visq.readKeepingAttempts');

/** Key of a DataQueue method for visq's task workers: doneData reporting the leases finished. */
export const doneReporting = Symbol('visq.doneReporting');

/**
 * Keys of DataQueue methods for the forwarder, which moves items with their metadata
 * (their trace context) unchanged and makes no spans: a put of items each with its own
 * metadata, and a peek that returns it.
 */
export const putCarrying = Symbol('visq.putCarrying');
export const peekCarrying = Symbol('visq.peekCarrying');

/** A delivery with the item's metadata, for the forwarder. */
export interface CarriedDelivery<T> extends Delivery<T> {
  /** The item's metadata ('' for none; see data/backend.ts `ItemMeta`). */
  readonly meta: string;
}

/** Set just before the `dead` getter constructs a dead-letter queue; read once by the constructor. */
let adopting:
  | { store: QueueStore; backend: QueueBackend; name: string; settings: QueueSettings }
  | undefined;

/**
 * An SQS-style queue of JSON items with visibility timeouts, stored in Redis (or a
 * MemoryStore). Safe to use from many processes at once; every method is one atomic step.
 *
 * @typeParam T - the item type; any JSON value.
 */
export class DataQueue<T = unknown> {
  /** The queue name. */
  readonly name: string;
  /** The key prefix; the queue's keys contain the hash tag `{prefix:name}`. */
  readonly prefix: string;
  /** The queue's defaults, validated. */
  readonly settings: Readonly<QueueSettings>;

  readonly #store: QueueStore;
  readonly #ownsStore: boolean;
  readonly #backend: QueueBackend;
  readonly #closing = new AbortController();
  #dead: DataQueue<T> | undefined;
  #closed = false;
  /** The queue's entry in the registry of queue names (a dead-letter queue has none). */
  readonly #registry: RegistryEntry | undefined;
  readonly #isDeadLetterQueue: boolean = false;

  /**
   * @param store - an ioredis `Redis` or `Cluster` (owned by the caller; visq never closes
   *   it) or a `MemoryStore`.
   * @param name - the queue name, 1 to 256 characters.
   * @param options - queue defaults; see {@link DataQueueOptions}.
   * @throws TypeError / RangeError for a bad argument.
   */
  constructor(store: StoreLike, name: string, options?: DataQueueOptions) {
    // every pending blocking read listens to it; many at once are expected, not a leak
    setMaxListeners(0, this.#closing.signal);
    const adopted = adopting;
    adopting = undefined;
    if (adopted) {
      // a dead-letter queue: its keys follow from its parent's, not from a name
      this.name = adopted.name;
      this.settings = Object.freeze(adopted.settings);
      this.prefix = adopted.settings.prefix;
      this.#store = adopted.store;
      this.#ownsStore = false;
      this.#backend = adopted.backend;
      this.#registry = undefined;
      this.#isDeadLetterQueue = true;
      return;
    }
    const checked = queueSettings(name, options);
    this.name = checked.name;
    this.settings = Object.freeze(checked.settings);
    this.prefix = checked.settings.prefix;
    const resolved = resolveStore('store', store);
    this.#store = resolved.store;
    this.#ownsStore = resolved.owned;
    this.#backend = this.#store.open(queueBase(this.prefix, this.name));
    this.#registry = new RegistryEntry(this.#store, this.prefix, this.name);
  }

  /**
   * The item id of a lease. Keys of an at-most-once read are item ids already and are
   * returned unchanged.
   * @throws TypeError when `lease` is not a string.
   */
  static itemId(lease: string): string {
    if (typeof lease !== 'string') {
      throw new VisqTypeError(`Expected \`lease\` to be a lease string, got ${describe(lease)}`);
    }
    return parseLease(lease)?.id ?? lease;
  }

  /**
   * Stores items and returns their ids in input order. Up to 1000 items are written in
   * one atomic step; longer arrays in steps of 1000. Every item is checked first: one that
   * JSON cannot give back unchanged rejects the whole call with a TypeError before
   * anything is written. Once the items are stored the call does not fail: listing the
   * queue for tools afterwards is best effort (a process warning on failure).
   */
  async putData(items: readonly T[], opts: PutOptions<T> & DedupePutOptions<T>): Promise<PutResult[]>;
  async putData(items: readonly T[], opts?: PutOptions<T> & { dedupe?: undefined }): Promise<string[]>;
  /**
   * With `opts.dedupe`, a deduplicated put (see {@link DedupeOptions} and docs/dedupe.md):
   * an item whose key a live item of the queue holds is not written, and the result says
   * so per item, `{ id, duplicate }` in input order (a duplicate's id is the holder's).
   * Every key is computed and checked before anything is written.
   */
  async putData(items: readonly T[], opts?: PutOptions<T> & Partial<DedupePutOptions<T>>): Promise<string[] | PutResult[]> {
    this.#ensureOpen();
    if (!Array.isArray(items)) throw new VisqTypeError(`Expected \`items\` to be an array, got ${describe(items)}`);
    // `dedupe` is checked on its own (dedupe.ts); `dedupe: undefined` is a plain put
    let plain: unknown = opts;
    if (typeof opts === 'object' && opts !== null && Object.hasOwn(opts, 'dedupe')) {
      const { dedupe: _dedupe, ...rest } = opts;
      plain = rest;
    }
    const options = putOptions(plain);
    this.#checkTransactional(options.db);
    if (opts?.dedupe !== undefined) {
      // the deduplicated put is a step of its own, which knows no groups (yet): refused
      // rather than putting the items outside their group
      if (options.group !== undefined) {
        throw new VisqRangeError('`opts.group` cannot be combined with `opts.dedupe`: put grouped items without dedupe');
      }
      return this.#putDeduped(items, options, opts.dedupe);
    }
    const group = options.group === undefined ? undefined : this.#groupPut(options, items);
    const payloads = this.#encode(items);
    // the trace context of the put's span, if any, goes with every item
    const ids = await traceSend(this.name, payloads.length, (meta) =>
      this.#write(payloads, options, meta === '' ? [] : [meta], group),
    );
    // tools list queues from the registry instead of scanning keys; never fails the put
    if (ids.length > 0) await this.#registry?.list();
    return ids;
  }

  /** putData with `dedupe`: keys checked and collapsed in Node, then one atomic step per 1000 distinct keys. */
  async #putDeduped(items: readonly T[], options: ReturnType<typeof putOptions>, opt: unknown): Promise<PutResult[]> {
    if (this.#isDeadLetterQueue) refuseOnDeadLetters();
    const { until, windowMs, keyOf } = dedupeOptions('opts.dedupe', opt, (i) => items[i]);
    const payloads = this.#encode(items);
    const collapsed = collapseKeys(payloads, keyOf);
    const sent = collapsed.unique.map((i) => payloads[i] as string);
    const { delayMs, priority, ttlMs, db } = options;
    const answers: PutResult[] = [];
    await traceSend(this.name, sent.length, async (meta) => {
      const out = answers;
      for (let start = 0; start < sent.length; start += MAX_BATCH) {
        const request = {
          payloads: sent.slice(start, start + MAX_BATCH),
          delayMs,
          priority,
          ttlMs,
          ...(meta === '' ? {} : { metas: [meta] }),
          ...(db ? { db } : {}),
        };
        out.push(...(await this.#backend.putDeduped(request, { keys: collapsed.keys.slice(start, start + MAX_BATCH), until, windowMs })));
      }
      return out.map((answer) => answer.id);
    });
    if (answers.some((answer) => !answer.duplicate)) await this.#registry?.list();
    return expandResults(collapsed, answers);
  }

  /**
   * Inspection of the queue's dedupe keys: `get(key)` tells who holds a key (id, when it
   * is freed at the latest, how it is held), `clear(key)` frees it. See docs/dedupe.md.
   */
  get dedupe(): DedupeKeys {
    return dedupeKeys(this.#backend, () => this.#ensureOpen());
  }

  /**
   * @internal For the forwarder: puts items with no options, each with its own metadata
   * (`metas[i]`, '' for none), and makes no span.
   */
  async [putCarrying](items: readonly T[], metas: readonly string[]): Promise<string[]> {
    this.#ensureOpen();
    const payloads = this.#encode(items);
    const ids = await this.#write(payloads, putOptions(undefined), metas.some((meta) => meta !== '') ? metas : []);
    if (ids.length > 0) await this.#registry?.list();
    return ids;
  }

  /** Every item as JSON, checked: one that JSON cannot give back unchanged is a TypeError. */
  #encode(items: readonly T[]): string[] {
    // an index loop, not map: map skips the holes of a sparse array, which JSON would turn into null
    const payloads: string[] = [];
    for (let i = 0; i < items.length; i += 1) {
      payloads.push(encodeItem(items[i], `items[${i}]`, this.settings.maxItemBytes));
    }
    return payloads;
  }

  /** The checked group part of a grouped put; throws before anything is written. */
  #groupPut(options: ReturnType<typeof putOptions>, items: readonly T[]): GroupPut {
    if (this.#isDeadLetterQueue) {
      throw new VisqRangeError(
        `Expected \`opts.group\` to be left out on a dead-letter queue (redrive brings dead letters back to their groups), got ${describe(options.group)}`,
      );
    }
    if (!this.#backend.groups) {
      throw new VisqRangeError(
        `Expected \`opts.group\` to be left out: this store does not support ordered groups (see docs/groups.md), got ${describe(options.group)}`,
      );
    }
    checkGroupPut(options.priority, options.ttlMs);
    return { names: groupNames(options.group, items), onDead: this.settings.groups.onDead };
  }

  /** Writes payloads in atomic steps of up to 1000; `metas` as PutRequest's (none, one for all, one each). */
  async #write(
    payloads: readonly string[],
    options: ReturnType<typeof putOptions>,
    metas: readonly string[],
    group?: GroupPut,
  ): Promise<string[]> {
    const { delayMs, priority, ttlMs, db } = options;
    const ids: string[] = [];
    for (let start = 0; start < payloads.length; start += MAX_BATCH) {
      const chunk = payloads.slice(start, start + MAX_BATCH);
      const chunkMetas = metas.length > 1 ? metas.slice(start, start + MAX_BATCH) : metas;
      const chunkGroup =
        group && group.names.length > 1 ? { ...group, names: group.names.slice(start, start + MAX_BATCH) } : group;
      ids.push(
        ...(await this.#backend.put({
          payloads: chunk,
          delayMs,
          priority,
          ttlMs,
          ...(chunkMetas.length > 0 ? { metas: chunkMetas } : {}),
          ...(db ? { db } : {}),
          ...(chunkGroup ? { group: chunkGroup } : {}),
        })),
      );
    }
    return ids;
  }

  /**
   * Reads up to `count` (1..1000) visible items, highest priority first, then oldest, as
   * a Map from lease to item. With a visibility timeout > 0 each item stays hidden that
   * long and uses one attempt; without one, items are removed as they are read.
   */
  async getData(count = 1, opts?: GetOptions): Promise<Map<string, T>> {
    const deliveries = await this.getDeliveries(count, opts);
    const items = new Map<string, T>();
    for (const delivery of deliveries) items.set(delivery.lease, delivery.item);
    return items;
  }

  /** Like {@link DataQueue.getData}, with each item's id and delivery number. */
  async getDeliveries(count = 1, opts?: GetOptions): Promise<Delivery<T>[]> {
    const read = this.#reader(count, opts, this.settings.attempts);
    return this.#decode(await traceReceive(this.name, read));
  }

  /** @internal For visq's task workers and the forwarder: doneData that tells which leases it finished, and makes no span. */
  async [doneReporting](leases: Iterable<string>): Promise<Set<string>> {
    this.#ensureOpen();
    return new Set(await this.#backend.doneLeases(collectLeases('leases', leases)));
  }

  /**
   * @internal For visq's own tools (the forwarder): a read whose lease, if it expires,
   * never spends an item's last attempt, whatever this handle's `attempts`.
   */
  async [readKeepingAttempts](count: number, opts: GetOptions): Promise<CarriedDelivery<T>[]> {
    const deliveries = await this.#reader(count, opts, MAX_ATTEMPTS)();
    return this.#decode(deliveries).map((delivery, i) => ({ ...delivery, meta: deliveries[i]?.meta ?? '' }));
  }

  /** Checks a read's arguments now, and returns the read (see getData). */
  #reader(count: unknown, opts: unknown, attempts: number): () => Promise<RawDelivery[]> {
    this.#ensureOpen();
    const checkedCount = countArg(count);
    const { visTimeoutMs, waitMs, signal } = getOptions(opts, this.settings);
    const { limits } = this.settings;
    checkLeasedUnderCap(limits, visTimeoutMs);
    const request = { count: checkedCount, visTimeoutMs, attempts, useDead: this.settings.useDead, ...(limits ? { limits } : {}) };
    return async () => {
      const started = performance.now();
      const stop = signal ? AbortSignal.any([signal, this.#closing.signal]) : this.#closing.signal;
      let result = await this.#backend.read(request);
      for (;;) {
        if (result.deliveries.length > 0) return result.deliveries;
        const left = waitMs - (performance.now() - started);
        if (left <= 0 || stop.aborted) return [];
        if (result.limited === 'rate') {
          // only time brings the next token: sleep until it is due, then read (no store
          // call meanwhile, and no put can wake this reader for nothing)
          await sleep(Math.min(left, result.nextDueMs), stop);
          if (stop.aborted) return [];
          result = await this.#backend.read(request);
          continue;
        }
        // wake at the next due time at the latest: a delayed item or expired lease
        // becomes visible then without any put to signal it
        const block = result.nextDueMs >= 0 ? Math.min(left, result.nextDueMs + 1) : left;
        const next = await this.#backend.waitThenRead(result.cursor, block, request, stop);
        // aborted (a closed queue must not lease items its caller can no longer finish)
        if (!next) return [];
        result = next;
      }
    };
  }

  /**
   * Extends each lease that is still its item's current delivery to now + visTimeout
   * (default: the queue's; must be > 0). Returns the leases extended; stale, done,
   * unknown or malformed leases are left out and change nothing.
   */
  async refreshData(leases: Iterable<string> | Map<string, T>, opts?: RefreshOptions): Promise<Set<string>> {
    this.#ensureOpen();
    const groups = collectLeases('leases', leases);
    const visTimeoutMs = refreshOptions(opts, this.settings);
    return new Set(await this.#backend.refresh(groups, visTimeoutMs));
  }

  /**
   * Finishes each item whose current delivery is one of `leases` and returns how many
   * were finished. Stale leases are no-ops: a slow consumer never deletes an item someone
   * else now holds. Accepts the Map returned by getData. With `opts.db` (PostgresStore)
   * the items are finished inside the caller's transaction.
   */
  async doneData(leases: Iterable<string> | Map<string, T>, opts?: DoneOptions): Promise<number> {
    this.#ensureOpen();
    const groups = collectLeases('leases', leases);
    const db = doneOptions(opts);
    this.#checkTransactional(db);
    if (groups.length === 0) return 0;
    const count = groups.reduce((sum, group) => sum + group.ids.length, 0);
    return traceSettle(this.name, count, () => (db ? this.#backend.done(groups, db) : this.#backend.done(groups)));
  }

  /** Refuses a transaction for a store that cannot join one, before anything is written. */
  #checkTransactional(db: SqlClient | undefined): void {
    checkTransactional(this.#store, db, "this queue's");
  }

  /**
   * Ends live deliveries without finishing them, so the items are read again after
   * `delay` seconds (default at once). By default the delivery counts as a failed
   * attempt, and an item whose attempts are spent is dead-lettered or dropped; pass
   * `countDelivery: false` to hand back items that were never worked on.
   */
  async releaseData(leases: Iterable<string> | Map<string, T>, opts?: ReleaseOptions): Promise<ReleaseResult> {
    this.#ensureOpen();
    const groups = collectLeases('leases', leases);
    const { delayMs, countDelivery } = releaseOptions(opts);
    const outcomes = await this.#backend.release(groups, { kind: countDelivery ? 'count' : 'keep', delayMs });
    const result: ReleaseResult = { requeued: new Set(), exhausted: new Set() };
    for (const [lease, outcome] of outcomes) {
      (outcome === 'requeued' ? result.requeued : result.exhausted).add(lease);
    }
    return result;
  }

  /**
   * Ends live deliveries as final failures, whatever attempts are left: each item goes
   * to the dead-letter queue (when `useDead`, default the queue's setting) or is dropped.
   * Returns the leases ended; stale or unknown leases are left out and change nothing.
   * @throws RangeError for `useDead: true` on a dead-letter queue, which never dead-letters.
   */
  async failData(leases: Iterable<string> | Map<string, T>, opts?: FailOptions): Promise<Set<string>> {
    this.#ensureOpen();
    const groups = collectLeases('leases', leases);
    const useDead = failOptions(opts, this.settings, this.#isDeadLetterQueue);
    return new Set((await this.#backend.release(groups, { kind: 'fail', useDead })).keys());
  }

  /** The next `count` (1..1000) visible items in delivery order, by id, without touching them. */
  async peekData(count = 1): Promise<Map<string, T>> {
    this.#ensureOpen();
    const items = await this.#backend.peek(countArg(count));
    return new Map(items.map(({ id, payload }) => [id, decodeItem<T>(payload, id)]));
  }

  /** @internal For the forwarder: peekData, with each item's metadata ('' for none). */
  async [peekCarrying](count: number): Promise<{ id: string; item: T; meta: string }[]> {
    this.#ensureOpen();
    const items = await this.#backend.peek(countArg(count));
    return items.map(({ id, payload, meta }) => ({ id, item: decodeItem<T>(payload, id), meta: meta ?? '' }));
  }

  /**
   * The queue's counts, read in one atomic step: `{ ready, delayed, inflight, dead }`, the
   * contract's shape, plus typed running totals (`expired`, `dropped`, `puts`,
   * `deliveries`, `dones`, `expiries`, `deadLettered`, `emptyReads`) and `headAge`. The
   * extras are not enumerable, so the object compares equal to the four counts; they
   * show in JSON.stringify and console.log, and read like any property.
   */
  async stats(): Promise<QueueStats> {
    this.#ensureOpen();
    return queueStats(await this.#backend.stats());
  }

  /**
   * The queue's ordered groups that have items waiting or out, or are blocked, the
   * busiest first (most items waiting and out, then the oldest head): at most `limit`
   * (1..10000, default 100). See docs/groups.md. A diagnostic: it reads every active group
   * of the queue, O(groups + grouped items out), in atomic pages (not atomic as a whole).
   * Resolves `[]` on a store without ordered groups.
   */
  async groups(opts?: GroupsOptions): Promise<GroupStats[]> {
    this.#ensureOpen();
    const limit = groupsLimit(opts);
    if (this.#isDeadLetterQueue || !this.#backend.groups) return [];
    return busiest(await this.#backend.groups(), limit);
  }

  /**
   * Lets ordered groups that a dead-lettered head blocks (`groups: { onDead: 'block' }`) go
   * on without a redrive: for when their dead letters were handled some other way (read
   * from {@link DataQueue.dead}, purged). Resolves how many of `groups` were blocked;
   * other names change nothing. The dead letters stay where they are: a later redrive
   * still puts them back in their groups, at their put-order place.
   * @throws TypeError / RangeError for a group name that is not 1 to 512 characters without "\0".
   */
  async unblockGroups(groups: Iterable<string>): Promise<number> {
    this.#ensureOpen();
    const names = unblockNames(groups);
    if (names.length === 0 || this.#isDeadLetterQueue || !this.#backend.unblockGroups) return 0;
    let unblocked = 0;
    for (let start = 0; start < names.length; start += MAX_BATCH) {
      unblocked += await this.#backend.unblockGroups(names.slice(start, start + MAX_BATCH));
    }
    return unblocked;
  }

  /**
   * The dead-letter queue: items whose attempts were spent (with `useDead`). Same hash
   * slot, same API; it reads at-most-once by default.
   */
  get dead(): DataQueue<T> {
    if (!this.#dead) {
      adopting = {
        store: this.#store,
        backend: this.#backend.dead(),
        name: `${this.name}:dead`,
        // the queue's limits are its own: its dead letters are read unlimited
        settings: { ...this.settings, visTimeout: 0, attempts: 1, useDead: false, limits: undefined },
      };
      this.#dead = new DataQueue<T>(this.#store, this.name);
      // first touched after close(): the dead-letter queue is closed with its parent
      if (this.#closed) this.#dead.#closed = true;
    }
    return this.#dead;
  }

  /**
   * Moves up to `count` (default all) visible dead letters back to this queue with fresh
   * attempts, in the dead-letter queue's order. Returns how many moved.
   */
  async redrive(count?: number): Promise<number> {
    this.#ensureOpen();
    const limit = redriveCount(count) ?? Number.POSITIVE_INFINITY;
    if (limit === 0) return 0;
    let moved = 0;
    while (moved < limit) {
      const step = Math.min(MAX_BATCH, limit - moved);
      const n = await this.#backend.redrive(step);
      moved += n;
      if (n < step) break;
    }
    return moved;
  }

  /**
   * Finds the item `id` in this queue or its dead-letter queue: its state, deliveries,
   * and when it becomes visible (delayed) or its lease ends (in flight). A diagnostic
   * that scans without blocking the store: O(queue size), not atomic.
   */
  async inspect(id: string): Promise<ItemInfo<T> | undefined> {
    this.#ensureOpen();
    const itemId = check.text('id', id, { maxLength: 512 });
    const found = await this.#backend.inspect(itemId);
    if (found) return this.#itemInfo(found, found.state);
    const dead = await this.#backend.dead().inspect(itemId);
    return dead ? this.#itemInfo(dead, 'dead') : undefined;
  }

  #itemInfo(found: RawItemInfo, state: ItemInfo<T>['state']): ItemInfo<T> {
    const inflight = found.state === 'inflight';
    return {
      id: found.id,
      state,
      item: decodeItem<T>(found.payload, found.id),
      priority: found.priority,
      deliveries: found.failedDeliveries + (inflight ? 1 : 0),
      ...(found.until === undefined
        ? {}
        : inflight
          ? { leaseUntil: new Date(found.until) }
          : { visibleAt: new Date(found.until) }),
      ...(found.lease === undefined ? {} : { lease: found.lease }),
    };
  }

  /**
   * Pauses every read of the queue (by any reader, in any process, limited or not) for
   * `seconds` from now, store time: for an upstream that answered 429 with a
   * Retry-After. Readers blocked meanwhile wake when the pause ends or is changed;
   * `limit(0)` lifts it. Leased items stay leased: done, refresh and release still work.
   * A later call replaces the pause. See docs/rate-limits.md.
   * @param seconds - from 0 (lift) to 1e9.
   * @returns when the pause ends, or `undefined` when lifted.
   * @throws RangeError for a negative or non-number `seconds`; nothing is written.
   */
  async limit(seconds: number): Promise<Date | undefined> {
    this.#ensureOpen();
    const ms = pauseMs(seconds);
    const until = await this.#backend.limit(ms);
    return until > 0 ? new Date(until) : undefined;
  }

  /** Deletes every key of this queue and of its dead-letter queue. */
  async clear(): Promise<void> {
    this.#ensureOpen();
    await this.#backend.clear();
    // a dead-letter queue is listed through its parent, never on its own
    await this.#registry?.unlist();
  }

  /**
   * Ends blocking waits (they return what there is) and releases the connections visq
   * opened for them. The caller's connection stays open. Later calls reject with
   * ClosedError.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#closing.abort();
    await this.#dead?.close();
    if (this.#ownsStore) await this.#store.close();
  }

  #ensureOpen(): void {
    if (this.#closed) throw new ClosedError(`DataQueue ${JSON.stringify(this.name)}`);
  }

  #decode(deliveries: RawDelivery[]): Delivery<T>[] {
    return deliveries.map(({ lease, id, delivery, payload }) => ({
      lease,
      id,
      delivery,
      item: decodeItem<T>(payload, id),
    }));
  }
}
