/**
 * Run timeouts without a timer per run: runs are kept in one FIFO per timeout length (a
 * later start means a later deadline within one length), and a single timer is armed for
 * the earliest deadline of all. Starting and ending a run is O(1) amortised; a worker with
 * one or a few timeout lengths, the usual case, looks at a handful of lists when the
 * timer fires.
 */
import { after } from '../sleep.js';

/** A run's place in the deadlines; `cancel` it when the run ends first. */
export interface DeadlineHandle {
  cancel(): void;
}

interface Entry {
  readonly at: number;
  readonly expire: () => void;
  done: boolean;
}

/** Ended entries tolerated in a list before it is compacted. */
const SLACK = 1024;

/** The deadlines of one timeout length, in order. */
class DeadlineList {
  entries: Entry[] = [];
  /** Entries before `head` are gone. */
  head = 0;
  /** Ended entries at or after `head`. */
  ended = 0;

  get live(): number {
    return this.entries.length - this.head - this.ended;
  }

  first(): Entry | undefined {
    return this.entries[this.head];
  }

  /** Drops ended entries from the front; compacts once too many ended ones sit behind a live one. */
  tidy(): void {
    while (this.head < this.entries.length && (this.entries[this.head] as Entry).done) {
      this.head += 1;
      this.ended -= 1;
    }
    if (this.head > SLACK || this.ended > SLACK + this.live) {
      this.entries = this.entries.slice(this.head).filter((entry) => !entry.done);
      this.head = 0;
      this.ended = 0;
    }
  }
}

export class Deadlines {
  readonly #lists = new Map<number, DeadlineList>();
  #cancelTimer: (() => void) | undefined;
  #armedFor = Number.POSITIVE_INFINITY;

  /** Calls `expire` once `ms` have passed, unless the handle is cancelled before. */
  add(ms: number, expire: () => void): DeadlineHandle {
    const entry: Entry = { at: performance.now() + ms, expire, done: false };
    let list = this.#lists.get(ms);
    if (!list) {
      list = new DeadlineList();
      this.#lists.set(ms, list);
    }
    list.entries.push(entry);
    if (entry.at < this.#armedFor) this.#arm(entry.at);
    const owner = list;
    return {
      cancel: () => {
        if (entry.done) return;
        entry.done = true;
        owner.ended += 1;
        owner.tidy();
      },
    };
  }

  /** Cancels every deadline and the timer. */
  clear(): void {
    this.#lists.clear();
    this.#cancelTimer?.();
    this.#cancelTimer = undefined;
    this.#armedFor = Number.POSITIVE_INFINITY;
  }

  #arm(at: number): void {
    this.#cancelTimer?.();
    this.#armedFor = at;
    this.#cancelTimer = after(Math.max(1, Math.ceil(at - performance.now())), () => this.#fire());
  }

  #fire(): void {
    this.#cancelTimer = undefined;
    this.#armedFor = Number.POSITIVE_INFINITY;
    const now = performance.now();
    let next = Number.POSITIVE_INFINITY;
    for (const [ms, list] of this.#lists) {
      for (let entry = list.first(); entry && entry.at <= now; entry = list.first()) {
        entry.done = true;
        list.ended += 1;
        list.tidy();
        entry.expire();
      }
      const first = list.first();
      if (!first) this.#lists.delete(ms);
      else next = Math.min(next, first.at);
    }
    if (next < Number.POSITIVE_INFINITY) this.#arm(next);
  }
}
