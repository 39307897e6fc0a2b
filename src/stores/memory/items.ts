/**
 * The records a MemoryStore queue is made of, and the orders its heaps keep. Heaps hold
 * marks (a ttl window, a deadline) rather than the records themselves where a record's
 * key can change, so a superseded mark is recognised as stale when it surfaces.
 */
export type Place = 'visible' | 'delayed' | 'inflight' | 'gone';

/** An item and where it is; a new object whenever it gets a new seq (dead letters, redrive). */
export interface StoredItem {
  readonly seq: number;
  readonly id: string;
  /** Deliveries that ended without done; the current one is deliveries + 1. */
  deliveries: number;
  readonly priority: number;
  ttlMs: number;
  /** The item's metadata (see data/backend.ts `ItemMeta`), '' when it has none. */
  readonly meta: string;
  readonly payload: string;
  place: Place;
  /** When a delayed item becomes visible. */
  visibleAt: number;
  /** The item's current ttl window while it is visible; other marks of it are stale. */
  ttlMark: TtlMark | undefined;
  /** The lease entry the item's live delivery belongs to while it is in flight. */
  owner: LeaseEntry | undefined;
  /** When its last delivery ended, for a dead letter (orders the dead-letter queue). */
  ended?: number;
}

export interface TtlMark {
  readonly expiresAt: number;
  readonly item: StoredItem;
}

/** A read batch or a refresh: one deadline shared by its leases. */
export interface LeaseEntry {
  /** The entry number as it appears in leases. */
  readonly name: string;
  readonly number: number;
  deadline: number;
  /** The entry's current deadline in the heap; undefined once the entry is gone. */
  deadlineMark: DeadlineMark | undefined;
  readonly attempts: number;
  readonly useDead: boolean;
  /** Leases still in flight under this entry. */
  readonly leases: Set<string>;
}

/** What happens to an item whose attempts are spent. */
export type SpentPolicy = Pick<LeaseEntry, 'attempts' | 'useDead'>;

export interface DeadlineMark {
  readonly deadline: number;
  readonly entry: LeaseEntry;
}

export const deliveryOrder = (a: StoredItem, b: StoredItem): boolean =>
  a.priority !== b.priority ? a.priority > b.priority : a.seq < b.seq;
export const dueOrder = (a: StoredItem, b: StoredItem): boolean =>
  a.visibleAt !== b.visibleAt ? a.visibleAt < b.visibleAt : a.seq < b.seq;
export const expiryOrder = (a: TtlMark, b: TtlMark): boolean =>
  a.expiresAt !== b.expiresAt ? a.expiresAt < b.expiresAt : a.item.seq < b.item.seq;
export const deadlineOrder = (a: DeadlineMark, b: DeadlineMark): boolean =>
  a.deadline !== b.deadline ? a.deadline < b.deadline : a.entry.number < b.entry.number;

export function comparing<T>(before: (a: T, b: T) => boolean): (a: T, b: T) => number {
  return (a, b) => (before(a, b) ? -1 : before(b, a) ? 1 : 0);
}

let lastGenStamp = 0;

/**
 * A new id epoch: microseconds since the epoch in base 36, as the scripts make it, kept
 * strictly increasing so that ids put after a clear never repeat earlier ones.
 */
export function newGen(): string {
  const stamp = Math.max(Math.floor((performance.timeOrigin + performance.now()) * 1000), lastGenStamp + 1);
  lastGenStamp = stamp;
  return stamp.toString(36);
}

export function newItem(
  seq: number,
  id: string,
  deliveries: number,
  priority: number,
  ttlMs: number,
  meta: string,
  payload: string,
): StoredItem {
  return {
    seq,
    id,
    deliveries,
    priority,
    ttlMs,
    meta,
    payload,
    place: 'gone',
    visibleAt: 0,
    ttlMark: undefined,
    owner: undefined,
  };
}
