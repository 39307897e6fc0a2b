/**
 * One queue of a MemoryStore and its atomic steps. Each public method is the in-process
 * twin of one Lua script (src/stores/redis/scripts) and keeps its observable behaviour: the same ids,
 * leases, order, lease liveness (`deadline > now`), delays (`visibleAt <= now`), ttl
 * windows (`expiresAt <= now`), attempts and dead letters. Steps run synchronously, which
 * is what makes them atomic here. Maintenance runs where the scripts run it (get, peek,
 * stats, redrive), so the state matches Redis's after every step; unlike the scripts it
 * is not bounded per call, as nothing here blocks other clients.
 */
import {
  earlierDue,
  putMeta,
  type PutRequest,
  type RawDelivery,
  type RawItem,
  type RawGroup,
  type RawItemInfo,
  type RawStats,
  type ReadRequest,
  type ReleaseMode,
  type ReleaseOutcome,
} from '../../data/backend.js';
import type { LeaseGroup } from '../../data/lease.js';
import { Heap } from './heap.js';
import {
  deliveryOrder,
  dueOrder,
  expiryOrder,
  newGen,
  newItem,
  type LeaseEntry,
  type SpentPolicy,
  type StoredItem,
  type TtlMark,
} from './items.js';
import { LeaseBook } from './lease-book.js';
import { LimitState } from './limits.js';
import type { LimitedBy } from '../../data/limits.js';
import { GroupBook } from './groups.js';
import { DedupeBook } from './dedupe.js';

/** Stale heap entries tolerated before a heap is rebuilt without them. */
const SLACK = 1024;

/** A queue's structures as they are, for dumps. */
export interface QueueContents {
  readonly meta: {
    readonly gen: string | undefined;
    readonly seq: number;
    readonly entry: number;
    readonly expired: number;
    readonly dropped: number;
  };
  readonly visible: readonly StoredItem[];
  readonly delayed: readonly StoredItem[];
  readonly inflight: ReadonlyMap<string, StoredItem>;
  readonly entries: readonly LeaseEntry[];
}

/** The running totals a queue keeps (meta fields in Redis). */
interface Totals {
  expired: number;
  dropped: number;
  puts: number;
  deliveries: number;
  dones: number;
  expiries: number;
  deadLettered: number;
  emptyReads: number;
}

function newTotals(): Totals {
  return { expired: 0, dropped: 0, puts: 0, deliveries: 0, dones: 0, expiries: 0, deadLettered: 0, emptyReads: 0 };
}

/** When the item of a seq came in, ms (see #reserve). */
function bornOf(seq: number): number {
  return Math.floor(seq / 1000);
}

export class QueueState {
  readonly #signal: () => void;
  /** Id prefix of the current key epoch; undefined until the first put after a clear. */
  #gen: string | undefined;
  #seq = 0;
  /** Running totals, as the scripts keep them in meta (see stats.lua). */
  #totals = newTotals();
  #visible = new Heap<StoredItem>(deliveryOrder);
  #visibleCount = 0;
  #delayed = new Heap<StoredItem>(dueOrder);
  #ttl = new Heap<TtlMark>(expiryOrder);
  #ttlCount = 0;
  #leases = new LeaseBook();
  /** Rate limit, pause and in-flight cap state (memory/limits.ts). */
  readonly #limits: LimitState;
  /** Ordered groups (memory/groups.ts); idle until the queue's first grouped put. */
  #groups = new GroupBook();
  /** The queue's dedupe keys (memory/dedupe.ts); cleared with the queue. */
  readonly dedupe = new DedupeBook();

  /**
   * @param signal - wakes the queue's blocked readers (the scripts' signal stream).
   * @param wakeLimited - wakes the readers a pause or the in-flight cap holds (the limit signal).
   */
  constructor(signal: () => void, wakeLimited: () => void = () => undefined) {
    this.#signal = signal;
    this.#limits = new LimitState(wakeLimited);
  }

  /** Stores items; `ids` are the caller's (task ids) when given, else new ones; `onItem` sees each new item (dedupe holds). */
  put(request: PutRequest, now: number, givenIds?: readonly string[], onItem?: (item: StoredItem, i: number) => void): string[] {
    const { payloads, delayMs, priority, ttlMs, metas } = request;
    const first = this.#reserve(payloads.length, now);
    this.#totals.puts += payloads.length;
    const ids: string[] = [];
    const group = request.group;
    const grouped: StoredItem[] = [];
    for (let i = 0; i < payloads.length; i += 1) {
      const seq = first + i;
      const id = givenIds?.[i] ?? `${this.#gen}-${seq}`;
      ids.push(id);
      const item = newItem(seq, id, 0, priority, ttlMs, putMeta(metas, i), payloads[i] as string);
      onItem?.(item, i);
      if (group && delayMs === 0) {
        grouped.push(item);
        continue;
      }
      if (group) this.#groups.markDelayed(item, (group.names.length === 1 ? group.names[0] : group.names[i]) as string, group.onDead);
      this.#enqueue(item, now + delayMs, now, true);
    }
    if (group && grouped.length > 0) this.#groups.put(grouped, group.names, group.onDead);
    this.#groups.takeWoke();
    this.#signal();
    return ids;
  }

  read(request: ReadRequest, now: number, dead: QueueState): { deliveries: RawDelivery[]; nextDueMs: number; limited?: LimitedBy } {
    this.#maintain(dead, now);
    let count = request.count;
    if (this.#limits.applies(request.limits)) {
      const gate = this.#limits.gate(count, request.limits, now, this.#leases.size, this.#leases.nextDeadline());
      // held back, it did not look for items: not counted as an empty read, as in get.lua
      if ('limited' in gate) {
        return { deliveries: [], nextDueMs: gate.waitMs, limited: gate.limited };
      }
      count = gate.allowed;
    }
    const items = this.#take(count, true);
    // ready ordered groups fill the rest, round-robin (memory/groups.ts)
    if (this.#groups.onDead !== undefined && items.length < count) {
      items.push(...this.#groups.take(count - items.length, request.visTimeoutMs > 0));
      if (this.#groups.takeWoke()) this.#signal();
    }
    // tokens are spent for what was taken, grouped items included
    this.#limits.spend(request.limits, items.length, now);
    if (items.length === 0) {
      // as in get.lua: counted only for a queue that has had a put
      if (this.#gen !== undefined) this.#totals.emptyReads += 1;
      return { deliveries: [], nextDueMs: this.#nextDueMs(now) };
    }
    this.#totals.deliveries += items.length;
    const leases =
      request.visTimeoutMs > 0
        ? this.#leases.deliver(items, now, now + request.visTimeoutMs, request.attempts, request.useDead)
        : items.map((item) => item.id);
    const deliveries = items.map((item, i): RawDelivery => {
      const delivery = { lease: leases[i] as string, id: item.id, delivery: item.deliveries + 1, payload: item.payload };
      return item.meta === '' ? delivery : { ...delivery, meta: item.meta };
    });
    return { deliveries, nextDueMs: -1 };
  }

  /** Whether `lease` is a live delivery of this queue (see LeaseBook.isLive). */
  isLive(lease: string, now: number): boolean {
    return this.#leases.isLive(lease, now);
  }

  /** Finishes the items of live leases; returns the leases finished. */
  done(groups: readonly LeaseGroup[], now: number): string[] {
    const finished: string[] = [];
    for (const [owner, leases] of this.#leases.liveByOwner(groups, now)) {
      const items = this.#leases.end(owner, leases);
      for (const item of items) item.place = 'gone';
      this.#groups.finished(items);
      finished.push(...leases);
    }
    this.#totals.dones += finished.length;
    if (finished.length > 0) this.#limits.freed();
    if (this.#groups.takeWoke()) this.#signal();
    return finished;
  }

  /**
   * Extends live leases to now + visTimeoutMs. As refresh.lua does, a refresh that
   * shortens a lease wakes the blocked readers (of `dead` too when the lease dead-letters):
   * they wait for the deadlines they saw, and must see the new one.
   */
  refresh(groups: readonly LeaseGroup[], visTimeoutMs: number, now: number, dead: QueueState): string[] {
    const refreshed: string[] = [];
    const deadline = now + visTimeoutMs;
    let shortened = false;
    let shortenedDead = false;
    for (const [owner, leases] of this.#leases.liveByOwner(groups, now)) {
      if (deadline < owner.deadline) {
        shortened = true;
        shortenedDead ||= owner.useDead;
      }
      this.#leases.extend(owner, leases, now, deadline);
      refreshed.push(...leases);
    }
    if (shortened) this.#signal();
    if (shortenedDead) dead.#signal();
    return refreshed;
  }

  /**
   * Ends live deliveries without done: `count` uses an attempt, `keep` does not, `fail`
   * spends them all (a delivery beyond attempts 0), dead-lettering per `mode.useDead`.
   */
  release(groups: readonly LeaseGroup[], mode: ReleaseMode, now: number, dead: QueueState): Map<string, ReleaseOutcome> {
    // deliveries that ended earlier are settled first, as release.lua does
    this.#maintain(dead, now);
    const outcomes = new Map<string, ReleaseOutcome>();
    const deadBatch: StoredItem[] = [];
    const visibleAt = now + (mode.kind === 'fail' ? 0 : mode.delayMs);
    const countDelivery = mode.kind !== 'keep';
    let requeued = false;
    for (const [owner, leases] of this.#leases.liveByOwner(groups, now)) {
      const policy: SpentPolicy = mode.kind === 'fail' ? { attempts: 0, useDead: mode.useDead } : owner;
      const items = this.#leases.end(owner, leases);
      items.forEach((item, i) => {
        const outcome = this.#settleUndone(item, policy, now, visibleAt, now, countDelivery, dead, deadBatch);
        if (outcome === 'requeued') requeued = true;
        outcomes.set(leases[i] as string, outcome);
      });
    }
    this.#totals.deadLettered += deadBatch.length;
    dead.#appendDead(deadBatch, now);
    if (this.#groups.takeWoke() || requeued) this.#signal();
    if (outcomes.size > 0) this.#limits.freed();
    return outcomes;
  }

  peek(count: number, now: number, dead: QueueState): RawItem[] {
    this.#maintain(dead, now);
    const items = this.#take(count, false);
    if (items.length < count) items.push(...this.#groups.peek(count - items.length));
    return items.map(({ id, payload, meta }) => (meta === '' ? { id, payload } : { id, payload, meta }));
  }

  stats(now: number, dead: QueueState): RawStats {
    this.#maintain(dead, now);
    const [head] = this.#take(1, false).concat(this.#groups.peek(1));
    return {
      // items of ordered groups waiting for their turn count as ready
      ready: this.#visibleCount + this.#groups.waitingCount,
      delayed: this.#delayed.size,
      inflight: this.#leases.size,
      dead: dead.#visibleCount + dead.#delayed.size + dead.#leases.size,
      ...this.#totals,
      headAgeMs: head ? Math.max(0, now - bornOf(head.seq)) : -1,
    };
  }

  /** Moves up to `count` visible dead letters of `dead` here, with new seqs and fresh attempts. */
  redrive(count: number, now: number, dead: QueueState): number {
    // this queue's expired leases first: they may be dead letters that belong in this redrive
    this.#maintain(dead, now);
    // as in the script, the dead-letter queue's own spent items are dropped, not nested
    dead.#maintain(undefined, now);
    const items = dead.#take(count, true);
    // dead letters of ordered groups go back to their groups at their put seq
    const rest = this.#groups.redrive(items, ({ id, priority, meta, payload }, seq) => newItem(seq, id, 0, priority, 0, meta, payload));
    this.#appendFresh(rest, now);
    if (this.#groups.takeWoke()) this.#signal();
    return items.length;
  }

  /**
   * Where the item `id` is, looked up as the Redis backend does: in flight first (even a
   * lease whose deadline passed before maintenance noticed), then delayed, then ready.
   * A scan, O(queue size): ids are not indexed, as on Redis, to keep the hot path lean.
   */
  inspect(id: string): RawItemInfo | undefined {
    const wanted = (item: StoredItem): boolean => item.id === id;
    const about = (item: StoredItem): Pick<RawItemInfo, 'id' | 'payload' | 'priority' | 'failedDeliveries'> => ({
      id: item.id,
      payload: item.payload,
      priority: item.priority,
      failedDeliveries: item.deliveries,
    });
    for (const [lease, item] of this.#leases.inflight) {
      if (wanted(item)) return { ...about(item), state: 'inflight', lease, until: (item.owner as LeaseEntry).deadline };
    }
    const delayed = this.#delayed.values().find(wanted);
    if (delayed) return { ...about(delayed), state: 'delayed', until: delayed.visibleAt };
    const ready =
      this.#visible.values().find((item) => item.place === 'visible' && wanted(item)) ?? this.#groups.waitingItems().find(wanted);
    return ready ? { ...about(ready), state: 'ready' } : undefined;
  }

  /** Pauses reads until now + ms, or lifts the pause (0); see limit.lua. Returns the end, 0 when lifted. */
  pause(ms: number, now: number): number {
    return this.#limits.pause(ms, now);
  }

  /** Forgets everything; the next put starts a new id epoch. */
  clear(): void {
    this.#limits.clear();
    this.#gen = undefined;
    this.#seq = 0;
    this.#totals = newTotals();
    this.#visible = new Heap(deliveryOrder);
    this.#visibleCount = 0;
    this.#delayed = new Heap(dueOrder);
    this.#ttl = new Heap(expiryOrder);
    this.#ttlCount = 0;
    this.#leases = new LeaseBook();
    this.#groups = new GroupBook();
    this.dedupe.reset();
  }

  /** The raw structures, read-only, for dumps (memory/dump.ts); heaps may hold stale entries. */
  contents(): QueueContents {
    return {
      meta: { gen: this.#gen, seq: this.#seq, entry: this.#leases.lastEntry, ...this.#totals },
      visible: this.#visible.values().filter((item) => item.place === 'visible'),
      delayed: this.#delayed.values(),
      inflight: this.#leases.inflight,
      entries: this.#leases.entries(),
    };
  }

  /** Seqs never run below now * 1000, as in reserve_seq (lib/queue.lua): a seq tells when its item came in. */
  #reserve(n: number, now: number): number {
    this.#gen ??= newGen();
    const first = Math.max(this.#seq + 1, Math.floor(now * 1000));
    this.#seq = first + n - 1;
    return first;
  }

  /** Makes an item visible at `visibleAt`, or hides it until then when that is later than now. */
  #enqueue(item: StoredItem, visibleAt: number, now: number, applyTtl: boolean): void {
    if (visibleAt > now) {
      item.place = 'delayed';
      item.visibleAt = visibleAt;
      this.#delayed.push(item);
      return;
    }
    if (!applyTtl) item.ttlMs = 0;
    item.place = 'visible';
    this.#visible.push(item);
    this.#visibleCount += 1;
    if (item.ttlMs > 0) {
      // the ttl window starts when the item becomes visible, not when maintenance notices
      const mark = { expiresAt: visibleAt + item.ttlMs, item };
      item.ttlMark = mark;
      this.#ttl.push(mark);
      this.#ttlCount += 1;
    }
  }

  /** The next `count` visible items in delivery order; removed unless `remove` is false. */
  #take(count: number, remove: boolean): StoredItem[] {
    const taken: StoredItem[] = [];
    while (taken.length < count) {
      const item = this.#visible.pop();
      if (!item) break;
      if (item.place === 'visible') taken.push(item);
    }
    for (const item of taken) {
      if (!remove) {
        this.#visible.push(item);
        continue;
      }
      item.place = 'gone';
      this.#visibleCount -= 1;
      if (item.ttlMark) {
        item.ttlMark = undefined;
        this.#ttlCount -= 1;
      }
    }
    return taken;
  }

  /**
   * Brings the queue up to date with time (what maintain.lua does for a dead-letter
   * queue's parent); returns the ms until its next lease deadline, -1 when none.
   */
  catchUp(now: number, dead: QueueState): number {
    this.#maintain(dead, now);
    const deadline = this.#leases.nextDeadline();
    return deadline === undefined ? -1 : Math.max(0, deadline - now);
  }

  /** Brings the queue up to date with time, in the scripts' order: promotions and requeues get their ttl windows before the ttl sweep. */
  #maintain(dead: QueueState | undefined, now: number): void {
    for (let item = this.#delayed.peek(); item && item.visibleAt <= now; item = this.#delayed.peek()) {
      this.#delayed.pop();
      // an item of an ordered group joins it instead
      if (!this.#groups.join(item)) this.#enqueue(item, item.visibleAt, now, true);
    }
    this.#expireLeases(dead, now);
    for (let mark = this.#ttl.peek(); mark && mark.expiresAt <= now; mark = this.#ttl.peek()) {
      this.#ttl.pop();
      const item = mark.item;
      if (item.ttlMark !== mark) continue;
      item.ttlMark = undefined;
      item.place = 'gone';
      this.#ttlCount -= 1;
      this.#visibleCount -= 1;
      this.#totals.expired += 1;
    }
    this.#tidy();
    if (this.#groups.takeWoke()) this.#signal();
  }

  #expireLeases(dead: QueueState | undefined, now: number): void {
    const deadBatch: StoredItem[] = [];
    for (const { entry, items } of this.#leases.expire(now)) {
      // requeued as of the deadline, so a ttl window counts from when the lease expired
      for (const item of items) {
        this.#settleUndone(item, entry, entry.deadline, entry.deadline, now, true, dead, deadBatch);
      }
      this.#totals.expiries += items.length;
    }
    if (dead) {
      this.#totals.deadLettered += deadBatch.length;
      dead.#appendDead(deadBatch, now);
    }
  }

  /** Ends one delivery without done: requeued, or dead-lettered / dropped once its attempts are spent. */
  #settleUndone(
    item: StoredItem,
    policy: SpentPolicy,
    ended: number,
    visibleAt: number,
    now: number,
    countDelivery: boolean,
    dead: QueueState | undefined,
    deadBatch: StoredItem[],
  ): ReleaseOutcome {
    const group = this.#groups.leasedGroup(item);
    if (countDelivery) item.deliveries += 1;
    if (countDelivery && item.deliveries >= policy.attempts) {
      item.place = 'gone';
      if (group !== undefined) this.#groups.ended(item, group, policy.useDead && dead !== undefined);
      if (policy.useDead && dead) {
        item.ended = ended;
        deadBatch.push(item);
        return 'dead';
      }
      this.#totals.dropped += 1;
      return 'dropped';
    }
    if (group !== undefined) {
      this.#groups.requeue(item, group, visibleAt, now, (hidden) => this.#enqueue(hidden, visibleAt, now, true));
      return 'requeued';
    }
    this.#enqueue(item, visibleAt, now, true);
    return 'requeued';
  }

  /** Unblocks groups (see GroupBook.unblock), after maintenance as the script does. */
  unblockGroups(names: readonly string[], now: number, dead: QueueState): number {
    this.#maintain(dead, now);
    const n = this.#groups.unblock(names);
    if (this.#groups.takeWoke()) this.#signal();
    return n;
  }

  /** The queue's ordered groups (see GroupBook.list). */
  groups(now: number, dead: QueueState): RawGroup[] {
    this.#maintain(dead, now);
    return this.#groups.list(now, bornOf);
  }

  /**
   * Dead letters enter in the order their last deliveries ended, then put order: every
   * step handles all that ended by its time, so the order does not depend on which call
   * noticed an expiry.
   */
  #appendDead(items: StoredItem[], now: number): void {
    items.sort((a, b) => (a.ended ?? 0) - (b.ended ?? 0) || a.seq - b.seq);
    this.#appendFresh(items, now);
  }

  /** Appends items from another queue (or this one's dead letters) with new seqs, no deliveries and no ttl. */
  #appendFresh(items: readonly StoredItem[], now: number): void {
    if (items.length === 0) return;
    const first = this.#reserve(items.length, now);
    for (let i = 0; i < items.length; i += 1) {
      const { id, priority, meta, payload } = items[i] as StoredItem;
      this.#enqueue(newItem(first + i, id, 0, priority, 0, meta, payload), now, now, false);
    }
    this.#signal();
  }

  /** Ms until a delayed item or a lease deadline comes due, -1 when none is pending. */
  #nextDueMs(now: number): number {
    let due = -1;
    for (const at of [this.#delayed.peek()?.visibleAt, this.#leases.nextDeadline()]) {
      if (at !== undefined) due = earlierDue(due, Math.max(0, at - now));
    }
    return due;
  }

  /** Rebuilds a heap once stale entries outnumber live ones, so that lazy deletion cannot grow without bound. */
  #tidy(): void {
    if (this.#visible.size > 2 * this.#visibleCount + SLACK) {
      this.#visible.retain((item) => item.place === 'visible');
    }
    if (this.#ttl.size > 2 * this.#ttlCount + SLACK) {
      this.#ttl.retain((mark) => mark.item.ttlMark === mark);
    }
  }
}
