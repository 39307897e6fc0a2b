/**
 * The dedupe keys of one MemoryStore queue, the in-process twin of lib/dedupe.lua. A key
 * held `until: 'done'` keeps a reference to its item: the item leaving the queue (done,
 * dead-lettered, dropped, read at most once, ttl) sets its place to 'gone', which frees
 * the key in that same synchronous step, as the scripts free it in theirs; a put or a
 * lookup first brings the queue up to date with time, as the scripts do.
 */
import type { DedupeRequest, DedupeUntil, PutResult, RawDedupeHolder } from '../../data/dedupe.js';
import type { PutRequest } from '../../data/backend.js';
import type { StoredItem } from './items.js';
import type { QueueState } from './queue-state.js';

interface Holder {
  readonly id: string;
  readonly expiresAt: number;
  readonly until: DedupeUntil;
  /** For `'done'`: the item holding the key; the key is free once it is gone. */
  readonly item: StoredItem | undefined;
}

export class DedupeBook {
  readonly #holders = new Map<string, Holder>();
  /** Keys held until done, by holder id, for a cancelled task to free its key. */
  readonly #byId = new Map<string, string>();
  /** Holders after the last sweep: sweeping when they have doubled keeps forgetting amortized O(1). */
  #swept = 0;

  /** The live holder of `key`; a holder whose time or item is over is forgotten here. */
  live(key: string, now: number): Holder | undefined {
    const holder = this.#holders.get(key);
    if (!holder) return undefined;
    if (holder.expiresAt > now && (holder.until === 'window' || holder.item?.place !== 'gone')) return holder;
    this.#forget(key, holder);
    return undefined;
  }

  /**
   * The answers of a deduplicated put before it writes: a duplicate for each key a live
   * item holds, undefined for the keys to put.
   */
  admit(dedupe: DedupeRequest, now: number): (PutResult | undefined)[] {
    if (this.#holders.size > 2 * this.#swept + 1024) {
      for (const key of [...this.#holders.keys()]) this.live(key, now);
      this.#swept = this.#holders.size;
    }
    return dedupe.keys.map((key) => {
      const holder = this.live(key, now);
      return holder ? { id: holder.id, duplicate: true } : undefined;
    });
  }

  /** Records that `item` (put now) holds `key`. */
  hold(key: string, item: StoredItem, dedupe: DedupeRequest, now: number): void {
    this.#holders.set(key, {
      id: item.id,
      expiresAt: now + dedupe.windowMs,
      until: dedupe.until,
      item: dedupe.until === 'done' ? item : undefined,
    });
    if (dedupe.until === 'done') this.#byId.set(item.id, key);
  }

  info(key: string, now: number): RawDedupeHolder | undefined {
    const holder = this.live(key, now);
    return holder && { id: holder.id, expiresAtMs: holder.expiresAt, until: holder.until };
  }

  /** Frees `key`; true if a live holder had it. */
  clear(key: string, now: number): boolean {
    const holder = this.live(key, now);
    if (holder) this.#forget(key, holder);
    return holder !== undefined;
  }

  /** Frees the key the item `id` holds until done (a cancelled task), if any. */
  releaseId(id: string): void {
    const key = this.#byId.get(id);
    if (key === undefined) return;
    const holder = this.#holders.get(key);
    if (holder?.id === id) this.#forget(key, holder);
    else this.#byId.delete(id);
  }

  /** Forgets every key (the queue was cleared). */
  reset(): void {
    this.#holders.clear();
    this.#byId.clear();
    this.#swept = 0;
  }

  #forget(key: string, holder: Holder): void {
    this.#holders.delete(key);
    if (holder.until === 'done') this.#byId.delete(holder.id);
  }
}

/**
 * A deduplicated put on `queue` (put.lua with dedupe): the items whose keys no live item
 * holds are put, with their claims, in one synchronous step. `givenIds`: the task layer's
 * ids, one per payload. Returns one answer per payload.
 */
export function putDeduped(
  queue: QueueState,
  dead: QueueState,
  request: PutRequest,
  dedupe: DedupeRequest,
  now: number,
  givenIds?: readonly string[],
): PutResult[] {
  // an item past its ttl or its last lease holds nothing: bring the queue up to date first
  if (dedupe.until === 'done') queue.catchUp(now, dead);
  const answers = queue.dedupe.admit(dedupe, now);
  const fresh: number[] = [];
  answers.forEach((answer, i) => {
    if (!answer) fresh.push(i);
  });
  if (fresh.length > 0) {
    const metas = request.metas && request.metas.length > 1 ? fresh.map((i) => request.metas?.[i] ?? '') : request.metas;
    const put: PutRequest = { ...request, payloads: fresh.map((i) => request.payloads[i] as string), ...(metas ? { metas } : {}) };
    const ids = queue.put(put, now, givenIds && fresh.map((i) => givenIds[i] as string), (item, j) => {
      queue.dedupe.hold(dedupe.keys[fresh[j] as number] as string, item, dedupe, now);
    });
    fresh.forEach((i, j) => {
      answers[i] = { id: ids[j] as string, duplicate: false };
    });
  }
  return answers as PutResult[];
}
