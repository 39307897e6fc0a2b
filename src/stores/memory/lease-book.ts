/**
 * The in-flight deliveries of one MemoryStore queue: lease -> item, and the entries (read
 * batches and refreshes) whose one deadline the leases share, as the scripts keep them in
 * `inflight`, `entries` and `leases`. A lease is live while its item is in flight and its
 * entry's deadline is in the future, even before maintenance has requeued an expired one.
 */
import { leaseOf, type LeaseGroup } from '../../data/lease.js';
import { Heap } from './heap.js';
import { deadlineOrder, type DeadlineMark, type LeaseEntry, type StoredItem } from './items.js';

/** Stale deadline marks tolerated before the heap is rebuilt without them. */
const SLACK = 1024;

export class LeaseBook {
  /** Entry numbers count up per queue, shared by read batches and refreshes. */
  #lastEntry = 0;
  readonly #inflight = new Map<string, StoredItem>();
  readonly #entries = new Map<string, LeaseEntry>();
  readonly #deadlines = new Heap<DeadlineMark>(deadlineOrder);

  get lastEntry(): number {
    return this.#lastEntry;
  }

  /** Live deliveries, counting those whose deadline passed until maintenance ends them. */
  get size(): number {
    return this.#inflight.size;
  }

  get inflight(): ReadonlyMap<string, StoredItem> {
    return this.#inflight;
  }

  entries(): LeaseEntry[] {
    return [...this.#entries.values()];
  }

  /** Hands out one lease per item, all under one new entry with one deadline. */
  deliver(items: readonly StoredItem[], now: number, deadline: number, attempts: number, useDead: boolean): string[] {
    const entry = this.#newEntry(now, deadline, attempts, useDead);
    return items.map((item) => {
      const lease = leaseOf(item.id, entry.name);
      item.place = 'inflight';
      item.owner = entry;
      this.#inflight.set(lease, item);
      entry.leases.add(lease);
      return lease;
    });
  }

  /**
   * The live leases among `groups`, by the entry that owns them. A lease is rebuilt from
   * its group's entry and id, so it only ever names what this queue issued.
   */
  liveByOwner(groups: readonly LeaseGroup[], now: number): Map<LeaseEntry, string[]> {
    const byOwner = new Map<LeaseEntry, string[]>();
    const seen = new Set<string>();
    for (const group of groups) {
      for (const id of group.ids) {
        const lease = leaseOf(id, group.entry);
        const owner = this.#inflight.get(lease)?.owner;
        if (!owner || !(owner.deadline > now) || seen.has(lease)) continue;
        seen.add(lease);
        const leases = byOwner.get(owner);
        if (leases) leases.push(lease);
        else byOwner.set(owner, [lease]);
      }
    }
    return byOwner;
  }

  /** Whether `lease` names a live delivery: in flight, its entry's deadline still ahead. */
  isLive(lease: string, now: number): boolean {
    const owner = this.#inflight.get(lease)?.owner;
    return owner !== undefined && owner.deadline > now;
  }

  /** Ends the live `leases` of `owner` and returns their items; an entry left empty goes. */
  end(owner: LeaseEntry, leases: readonly string[]): StoredItem[] {
    const items = leases.map((lease) => {
      const item = this.#inflight.get(lease) as StoredItem;
      this.#inflight.delete(lease);
      owner.leases.delete(lease);
      item.owner = undefined;
      return item;
    });
    if (owner.leases.size === 0) this.#dropEntry(owner);
    this.#tidy();
    return items;
  }

  /**
   * Moves live leases of `owner` to `deadline`: the whole entry when they are all its
   * live leases, else a new entry of their own, so that the others keep their deadline.
   */
  extend(owner: LeaseEntry, leases: readonly string[], now: number, deadline: number): void {
    if (owner.leases.size === leases.length) {
      this.#setDeadline(owner, deadline);
    } else {
      const entry = this.#newEntry(now, deadline, owner.attempts, owner.useDead);
      for (const lease of leases) {
        owner.leases.delete(lease);
        entry.leases.add(lease);
        (this.#inflight.get(lease) as StoredItem).owner = entry;
      }
    }
    this.#tidy();
  }

  /** Ends every entry whose deadline is at or before `now`, earliest first, with its items. */
  expire(now: number): { entry: LeaseEntry; items: StoredItem[] }[] {
    const expired: { entry: LeaseEntry; items: StoredItem[] }[] = [];
    for (let mark = this.#deadlines.peek(); mark && mark.deadline <= now; mark = this.#deadlines.peek()) {
      this.#deadlines.pop();
      const entry = mark.entry;
      if (entry.deadlineMark !== mark) continue;
      expired.push({ entry, items: this.end(entry, [...entry.leases]) });
    }
    return expired;
  }

  /** The earliest deadline of a live entry, if any. */
  nextDeadline(): number | undefined {
    let mark = this.#deadlines.peek();
    while (mark && mark.entry.deadlineMark !== mark) {
      this.#deadlines.pop();
      mark = this.#deadlines.peek();
    }
    return mark?.deadline;
  }

  /**
   * A new entry. As in the scripts, numbers never run below now (ms) * 1000, so that a
   * store that lost recent writes (on Redis) never hands out a lease string twice.
   */
  #newEntry(now: number, deadline: number, attempts: number, useDead: boolean): LeaseEntry {
    this.#lastEntry = Math.max(this.#lastEntry + 1, Math.floor(now * 1000));
    const entry: LeaseEntry = {
      name: String(this.#lastEntry),
      number: this.#lastEntry,
      deadline,
      deadlineMark: undefined,
      attempts,
      useDead,
      leases: new Set(),
    };
    this.#entries.set(entry.name, entry);
    this.#setDeadline(entry, deadline);
    return entry;
  }

  #setDeadline(entry: LeaseEntry, deadline: number): void {
    const mark = { deadline, entry };
    entry.deadline = deadline;
    entry.deadlineMark = mark;
    this.#deadlines.push(mark);
  }

  #dropEntry(entry: LeaseEntry): void {
    this.#entries.delete(entry.name);
    entry.deadlineMark = undefined;
  }

  /** Moved and ended entries leave marks behind; rebuild once they outnumber the live ones. */
  #tidy(): void {
    if (this.#deadlines.size > 2 * this.#entries.size + SLACK) {
      this.#deadlines.retain((mark) => mark.entry.deadlineMark === mark);
    }
  }
}
