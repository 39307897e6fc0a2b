/**
 * Ordered groups of a MemoryStore queue: the in-process twin of lib/groups.lua, step for
 * step, so that the two stores deliver in the same order (docs/groups.md). Items of a
 * group that wait for their turn live here, not in the queue's visible heap; items out
 * (leased, or hidden by a release delay) hold their group; a group with items waiting,
 * nothing out and no block is in the round-robin of ready groups exactly once.
 */
import type { RawGroup } from '../../data/backend.js';
import type { GroupOnDead } from '../../data/groups.js';
import type { StoredItem } from './items.js';

interface GroupState {
  /** Items waiting, in seq order. */
  readonly waiting: StoredItem[];
  /** Items out: leased, or hidden by a release delay. */
  out: number;
  blocked: boolean;
  ready: boolean;
}

/** Where a grouped item that is not waiting is (the scripts' i:<id> field). */
type Mark = { readonly group: string; readonly kind: 'leased' | 'holding' | 'delayed' };

/** Inserts `item` into `items` (sorted by seq) at its seq's place. */
function insertBySeq(items: StoredItem[], item: StoredItem): void {
  let lo = 0;
  let hi = items.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((items[mid] as StoredItem).seq < item.seq) lo = mid + 1;
    else hi = mid;
  }
  items.splice(lo, 0, item);
}

export class GroupBook {
  /** What a dead-lettered head does; undefined until the queue's first grouped put. */
  onDead: GroupOnDead | undefined;
  #groups = new Map<string, GroupState>();
  #ready: string[] = [];
  #readyHead = 0;
  #marks = new Map<StoredItem, Mark>();
  /** Dead-lettered items of groups, by id: where a redrive puts them back. */
  #dead = new Map<string, { readonly group: string; readonly seq: number }>();
  #waitingCount = 0;
  #woke = false;

  /** Items waiting in groups (counted as ready by stats). */
  get waitingCount(): number {
    return this.#waitingCount;
  }

  #state(group: string): GroupState {
    let state = this.#groups.get(group);
    if (!state) {
      state = { waiting: [], out: 0, blocked: false, ready: false };
      this.#groups.set(group, state);
    }
    return state;
  }

  /** As touch in lib/groups.lua: a group that can go on joins the end of the round-robin; an empty one is forgotten. */
  #touch(group: string, state: GroupState): void {
    if (!state.ready && state.out <= 0 && !state.blocked && state.waiting.length > 0) {
      state.ready = true;
      this.#ready.push(group);
      this.#woke = true;
    }
    if (!state.ready && state.out <= 0 && !state.blocked && state.waiting.length === 0) this.#groups.delete(group);
  }

  #wait(group: string, item: StoredItem): GroupState {
    const state = this.#state(group);
    item.place = 'visible';
    insertBySeq(state.waiting, item);
    this.#waitingCount += 1;
    return state;
  }

  /** Whether a group became ready since the last call (the caller wakes blocked readers). */
  takeWoke(): boolean {
    const woke = this.#woke;
    this.#woke = false;
    return woke;
  }

  /** A put: visible items wait in their groups (groups touched in order of first appearance). */
  put(items: readonly StoredItem[], names: readonly string[], onDead: GroupOnDead): void {
    this.onDead = onDead;
    const order: string[] = [];
    items.forEach((item, i) => {
      const group = (names.length === 1 ? names[0] : names[i]) as string;
      this.#wait(group, item);
      order.push(group);
    });
    for (const group of order) this.#touch(group, this.#state(group));
  }

  /** A delayed put: the item joins its group when it comes due. */
  markDelayed(item: StoredItem, group: string, onDead: GroupOnDead): void {
    this.onDead = onDead;
    this.#marks.set(item, { group, kind: 'delayed' });
  }

  /** Up to `count` items of the ready groups, round-robin, each group its head run (see take in lib/groups.lua). */
  take(count: number, leased: boolean): StoredItem[] {
    const taken: StoredItem[] = [];
    const used: string[] = [];
    while (taken.length < count && this.#readyHead < this.#ready.length) {
      const group = this.#ready[this.#readyHead] as string;
      this.#readyHead += 1;
      used.push(group);
      const state = this.#state(group);
      const run = state.waiting.splice(0, count - taken.length);
      this.#waitingCount -= run.length;
      for (const item of run) {
        taken.push(item);
        if (leased) this.#marks.set(item, { group, kind: 'leased' });
        else item.place = 'gone';
      }
      state.ready = false;
      state.out = leased ? run.length : 0;
    }
    this.#compact();
    for (const group of used) this.#touch(group, this.#state(group));
    return taken;
  }

  /** What take(count) would return, untouched. */
  peek(count: number): StoredItem[] {
    const out: StoredItem[] = [];
    for (let i = this.#readyHead; i < this.#ready.length && out.length < count; i += 1) {
      const state = this.#groups.get(this.#ready[i] as string);
      if (state) out.push(...state.waiting.slice(0, count - out.length));
    }
    return out;
  }

  /** Items finished by done leave their groups; groups with nothing out go on. */
  finished(items: readonly StoredItem[]): void {
    const counts = new Map<string, number>();
    for (const item of items) {
      const mark = this.#marks.get(item);
      if (mark?.kind !== 'leased') continue;
      this.#marks.delete(item);
      counts.set(mark.group, (counts.get(mark.group) ?? 0) + 1);
    }
    for (const [group, n] of counts) {
      const state = this.#state(group);
      state.out -= n;
      this.#touch(group, state);
    }
  }

  /** The group of a leased item, if it has one. */
  leasedGroup(item: StoredItem): string | undefined {
    const mark = this.#marks.get(item);
    return mark?.kind === 'leased' ? mark.group : undefined;
  }

  /**
   * A leased item back to its group's head: now (the group goes on when nothing else is
   * out), or after a release delay (`hide` puts it in the delayed heap; it holds its group).
   */
  requeue(item: StoredItem, group: string, visibleAt: number, now: number, hide: (item: StoredItem) => void): void {
    if (visibleAt > now) {
      this.#marks.set(item, { group, kind: 'holding' });
      hide(item);
      return;
    }
    this.#marks.delete(item);
    const state = this.#wait(group, item);
    state.out -= 1;
    this.#touch(group, state);
  }

  /** A leased item leaves its group dead-lettered (`dead`) or dropped; onDead 'block' blocks the group on a dead letter. */
  ended(item: StoredItem, group: string, dead: boolean): void {
    this.#marks.delete(item);
    const state = this.#state(group);
    if (dead) {
      this.#dead.set(item.id, { group, seq: item.seq });
      if (this.onDead === 'block') state.blocked = true;
    }
    state.out -= 1;
    this.#touch(group, state);
  }

  /** A due delayed item of a group joins it; false for an item without a group. */
  join(item: StoredItem): boolean {
    const mark = this.#marks.get(item);
    if (!mark || mark.kind === 'leased') return false;
    this.#marks.delete(item);
    const state = this.#wait(mark.group, item);
    if (mark.kind === 'holding') state.out -= 1;
    this.#touch(mark.group, state);
    return true;
  }

  /**
   * Redrive: dead letters of groups go back to them at their put seq (`make` builds the
   * item) and unblock them; returns the others.
   */
  redrive(items: readonly StoredItem[], make: (item: StoredItem, seq: number) => StoredItem): StoredItem[] {
    const rest: StoredItem[] = [];
    for (const item of items) {
      const dead = this.#dead.get(item.id);
      if (!dead) {
        rest.push(item);
        continue;
      }
      this.#dead.delete(item.id);
      const state = this.#wait(dead.group, make(item, dead.seq));
      state.blocked = false;
      this.#touch(dead.group, state);
    }
    return rest;
  }

  /** Lets the blocked groups among `names` go on; returns how many were blocked. */
  unblock(names: readonly string[]): number {
    let n = 0;
    for (const group of names) {
      const state = this.#groups.get(group);
      if (!state?.blocked) continue;
      state.blocked = false;
      n += 1;
      this.#touch(group, state);
    }
    return n;
  }

  /** Every group with items waiting or out, or blocked. */
  list(now: number, bornOf: (seq: number) => number): RawGroup[] {
    return [...this.#groups].map(([group, state]) => {
      const head = state.waiting[0];
      return {
        group,
        state: state.blocked ? 'blocked' : state.out > 0 ? 'held' : state.ready ? 'ready' : 'idle',
        depth: state.waiting.length,
        inflight: state.out,
        headAgeMs: head ? Math.max(0, now - bornOf(head.seq)) : -1,
      };
    });
  }

  /** Waiting items, for inspect: ready ones in group order. */
  waitingItems(): StoredItem[] {
    return [...this.#groups.values()].flatMap((state) => state.waiting);
  }

  #compact(): void {
    if (this.#readyHead > 1024 && this.#readyHead * 2 > this.#ready.length) {
      this.#ready = this.#ready.slice(this.#readyHead);
      this.#readyHead = 0;
    }
  }
}
