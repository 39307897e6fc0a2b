/**
 * A binary min-heap. The MemoryStore keeps its orderings (visible items, delays, ttl
 * windows, lease deadlines) in heaps: O(log n) per push and pop, and entries that went
 * stale are skipped when they surface instead of being searched for (lazy deletion).
 */
export class Heap<T> {
  #items: T[] = [];
  readonly #before: (a: T, b: T) => boolean;

  /** @param before - true when `a` must come out before `b`; a strict total order. */
  constructor(before: (a: T, b: T) => boolean) {
    this.#before = before;
  }

  get size(): number {
    return this.#items.length;
  }

  peek(): T | undefined {
    return this.#items[0];
  }

  push(item: T): void {
    const items = this.#items;
    items.push(item);
    let at = items.length - 1;
    while (at > 0) {
      const parent = (at - 1) >> 1;
      const above = items[parent] as T;
      if (!this.#before(item, above)) break;
      items[at] = above;
      at = parent;
    }
    items[at] = item;
  }

  pop(): T | undefined {
    const items = this.#items;
    const top = items[0];
    const last = items.pop();
    if (items.length > 0 && last !== undefined) this.#sink(last, 0);
    return top;
  }

  /** Keeps only the entries `keep` accepts, in O(n); for dropping stale entries in bulk. */
  retain(keep: (item: T) => boolean): void {
    const kept = this.#items.filter(keep);
    this.#items = kept;
    for (let at = (kept.length >> 1) - 1; at >= 0; at -= 1) this.#sink(kept[at] as T, at);
  }

  /** Every entry, in no particular order. */
  values(): readonly T[] {
    return this.#items;
  }

  clear(): void {
    this.#items = [];
  }

  #sink(item: T, from: number): void {
    const items = this.#items;
    const length = items.length;
    let at = from;
    for (;;) {
      const left = 2 * at + 1;
      if (left >= length) break;
      const right = left + 1;
      let child = left;
      if (right < length && this.#before(items[right] as T, items[left] as T)) child = right;
      const below = items[child] as T;
      if (!this.#before(below, item)) break;
      items[at] = below;
      at = child;
    }
    items[at] = item;
  }
}
