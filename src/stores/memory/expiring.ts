/**
 * A map whose entries expire, swept as time goes by rather than only when read: the
 * MemoryStore's twin of keys with a time to live, so that records nobody reads again do
 * not pile up in the heap.
 */
import { Heap } from './heap.js';

interface Entry<T> {
  readonly value: T;
  readonly expiresAt: number;
}

interface Mark {
  readonly key: string;
  readonly expiresAt: number;
}

/** Entries swept per call at most, so that one call never stalls the process. */
const SWEEP_SLICE = 256;

export class ExpiringMap<T> {
  readonly #entries = new Map<string, Entry<T>>();
  /** When each entry set expires; a mark of an entry set again since is stale and skipped. */
  readonly #marks = new Heap<Mark>((a, b) => a.expiresAt < b.expiresAt);

  get size(): number {
    return this.#entries.size;
  }

  /**
   * How many entries, and expiry marks not swept yet (live entries' and stale ones'), have
   * a key that `mine` accepts: for tests that check both stay bounded. O(n).
   */
  count(mine: (key: string) => boolean): { entries: number; marks: number } {
    let entries = 0;
    for (const key of this.#entries.keys()) if (mine(key)) entries += 1;
    const marks = this.#marks.values().filter((mark) => mine(mark.key)).length;
    return { entries, marks };
  }

  /** The live value of `key` at `now`, if any. */
  get(key: string, now: number): T | undefined {
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= now) {
      this.#entries.delete(key);
      return undefined;
    }
    return entry.value;
  }

  /** Sets `key` until `expiresAt`; an entry set until Infinity stays until set again or deleted. */
  set(key: string, value: T, expiresAt: number): void {
    this.#entries.set(key, { value, expiresAt });
    // a mark that never comes due would never leave the heap
    if (Number.isFinite(expiresAt)) this.#marks.push({ key, expiresAt });
  }

  delete(key: string): void {
    this.#entries.delete(key);
  }

  /** Drops up to a slice of the entries expired at `now`. */
  sweep(now: number): void {
    for (let swept = 0; swept < SWEEP_SLICE; swept += 1) {
      const mark = this.#marks.peek();
      if (!mark || mark.expiresAt > now) return;
      this.#marks.pop();
      if (this.#entries.get(mark.key)?.expiresAt === mark.expiresAt) this.#entries.delete(mark.key);
    }
  }

  clear(): void {
    this.#entries.clear();
    this.#marks.clear();
  }
}
