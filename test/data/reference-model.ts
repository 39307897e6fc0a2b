/**
 * A reference model of one DataQueue and its dead-letter queue, in memory, in plain
 * TypeScript: the semantics the Lua scripts must implement, written the slow and obvious
 * way. Time is explicit (ms). Every operation first applies all transitions due at its
 * `now` (one step), then acts; a lease is live only while its deadline is later than now.
 *
 * Items are named by a model id (a number the test also stores as the payload) and
 * deliveries by a model lease token, so the model never depends on the ids and lease
 * strings Redis invents; the test keeps the translation.
 */

/** Seconds as the API turns them into ms (rounded up, like `toMs` in src/validate.ts). */
export function toMs(seconds: number): number {
  return Math.ceil(seconds * 1000);
}

/** How the reader that delivered an item settles it when a delivery fails. */
export interface ReaderSettings {
  readonly attempts: number;
  readonly useDead: boolean;
}

interface InFlight {
  readonly kind: 'inflight';
  readonly lease: number;
  deadline: number;
  /** The settings of the reader that delivered it decide what an expiry does. */
  readonly reader: ReaderSettings;
}

type Place =
  | { readonly kind: 'visible'; readonly expiresAt: number | undefined }
  | { readonly kind: 'delayed'; readonly visibleAt: number }
  | InFlight;

interface ModelItem {
  readonly id: number;
  readonly seq: number;
  readonly priority: number;
  readonly ttlMs: number;
  /** Deliveries that ended without done. */
  failed: number;
  place: Place;
}

interface DeadLetter {
  readonly id: number;
  readonly seq: number;
  readonly priority: number;
}

/** An item whose last delivery ended at `ended` (its deadline, or the release), on its way to the dead letters. */
interface Exhausted {
  readonly item: ModelItem;
  readonly ended: number;
}

/** One delivery as the model hands it out; `lease` is undefined for at-most-once reads. */
export interface ModelDelivery {
  readonly id: number;
  readonly lease: number | undefined;
  readonly delivery: number;
}

export interface ModelStats {
  ready: number;
  delayed: number;
  inflight: number;
  dead: number;
  expired: number;
  dropped: number;
}

export interface ModelPutOptions {
  readonly delayMs?: number;
  readonly priority?: number;
  readonly ttlMs?: number;
}

/** Delivery order: priority descending, then seq ascending. */
function byDeliveryOrder(a: { priority: number; seq: number }, b: { priority: number; seq: number }): number {
  return b.priority - a.priority || a.seq - b.seq;
}

export class ReferenceQueue {
  readonly #items = new Map<number, ModelItem>();
  #dead: DeadLetter[] = [];
  #seq = 0;
  #deadSeq = 0;
  #nextLease = 1;
  #now: number;
  #expired = 0;
  #dropped = 0;

  constructor(startMs: number) {
    this.#now = startMs;
  }

  put(ids: readonly number[], opts: ModelPutOptions, now: number): void {
    this.#step(now);
    const { delayMs = 0, priority = 0, ttlMs = 0 } = opts;
    for (const id of ids) {
      this.#seq += 1;
      const item: ModelItem = { id, seq: this.#seq, priority, ttlMs, failed: 0, place: { kind: 'visible', expiresAt: undefined } };
      this.#items.set(id, item);
      this.#showAt(item, now + delayMs);
    }
  }

  get(count: number, visTimeoutMs: number, reader: ReaderSettings, now: number): ModelDelivery[] {
    this.#step(now);
    return this.#visible()
      .slice(0, count)
      .map((item) => {
        const delivery = item.failed + 1;
        if (visTimeoutMs === 0) {
          this.#items.delete(item.id);
          return { id: item.id, lease: undefined, delivery };
        }
        const lease = this.#nextLease++;
        item.place = { kind: 'inflight', lease, deadline: now + visTimeoutMs, reader };
        return { id: item.id, lease, delivery };
      });
  }

  refresh(leases: readonly number[], visTimeoutMs: number, now: number): Set<number> {
    this.#step(now);
    const refreshed = new Set<number>();
    for (const { place } of this.#holders(leases)) {
      place.deadline = now + visTimeoutMs;
      refreshed.add(place.lease);
    }
    return refreshed;
  }

  done(leases: readonly number[], now: number): number {
    this.#step(now);
    const finished = this.#holders(leases);
    for (const { item } of finished) this.#items.delete(item.id);
    return finished.length;
  }

  release(
    leases: readonly number[],
    opts: { delayMs: number; countDelivery: boolean },
    now: number,
  ): { requeued: Set<number>; exhausted: Set<number> } {
    this.#step(now);
    const result = { requeued: new Set<number>(), exhausted: new Set<number>() };
    const deadBatch: Exhausted[] = [];
    for (const { item, place } of this.#holders(leases)) {
      if (opts.countDelivery) item.failed += 1;
      if (opts.countDelivery && item.failed >= place.reader.attempts) {
        result.exhausted.add(place.lease);
        this.#exhaust(item, place.reader.useDead, now, deadBatch);
      } else {
        result.requeued.add(place.lease);
        this.#showAt(item, now + opts.delayMs);
      }
    }
    this.#appendDead(deadBatch);
    return result;
  }

  /** Ends live deliveries as final failures, whatever attempts are left. */
  fail(leases: readonly number[], useDead: boolean, now: number): Set<number> {
    this.#step(now);
    const ended = new Set<number>();
    const deadBatch: Exhausted[] = [];
    for (const { item, place } of this.#holders(leases)) {
      ended.add(place.lease);
      this.#exhaust(item, useDead, now, deadBatch);
    }
    this.#appendDead(deadBatch);
    return ended;
  }

  peek(count: number, now: number): number[] {
    this.#step(now);
    return this.#visible()
      .slice(0, count)
      .map((item) => item.id);
  }

  stats(now: number): ModelStats {
    this.#step(now);
    const stats: ModelStats = {
      ready: 0,
      delayed: 0,
      inflight: 0,
      dead: this.#dead.length,
      expired: this.#expired,
      dropped: this.#dropped,
    };
    for (const item of this.#items.values()) {
      if (item.place.kind === 'visible') stats.ready += 1;
      else if (item.place.kind === 'delayed') stats.delayed += 1;
      else stats.inflight += 1;
    }
    return stats;
  }

  /** The next visible dead letters (the dead-letter queue reads like any queue). */
  peekDead(count: number, now: number): number[] {
    this.#step(now);
    return this.#deadInOrder()
      .slice(0, count)
      .map((letter) => letter.id);
  }

  /** At-most-once read of the dead-letter queue; dead letters start with 0 failed deliveries. */
  getDead(count: number, now: number): ModelDelivery[] {
    this.#step(now);
    const taken = this.#deadInOrder().slice(0, count);
    this.#dead = this.#dead.filter((letter) => !taken.includes(letter));
    return taken.map((letter) => ({ id: letter.id, lease: undefined, delivery: 1 }));
  }

  redrive(count: number | undefined, now: number): number {
    this.#step(now);
    const moved = this.#deadInOrder().slice(0, count ?? Number.POSITIVE_INFINITY);
    this.#dead = this.#dead.filter((letter) => !moved.includes(letter));
    for (const letter of moved) {
      this.#seq += 1;
      // redriven items start over: new place at the end of their priority, no ttl
      const place: Place = { kind: 'visible', expiresAt: undefined };
      this.#items.set(letter.id, { id: letter.id, seq: this.#seq, priority: letter.priority, ttlMs: 0, failed: 0, place });
    }
    return moved.length;
  }

  /** One step: moves the model to `now` and applies every transition due by then (delays end, leases expire, ttls run out). */
  #step(now: number): void {
    if (now < this.#now) throw new Error(`model time went back from ${this.#now} to ${now}`);
    this.#now = now;
    const deadBatch: Exhausted[] = [];
    for (const item of [...this.#items.values()]) {
      const place = item.place;
      if (place.kind === 'delayed' && place.visibleAt <= now) {
        this.#makeVisible(item, place.visibleAt);
      } else if (place.kind === 'inflight' && place.deadline <= now) {
        item.failed += 1;
        if (item.failed >= place.reader.attempts) this.#exhaust(item, place.reader.useDead, place.deadline, deadBatch);
        else this.#makeVisible(item, place.deadline);
      }
    }
    for (const item of [...this.#items.values()]) {
      const place = item.place;
      if (place.kind === 'visible' && place.expiresAt !== undefined && place.expiresAt <= now) {
        this.#items.delete(item.id);
        this.#expired += 1;
      }
    }
    this.#appendDead(deadBatch);
  }

  /** Visible from `visibleAt` on: now if that has come, else hidden until then. */
  #showAt(item: ModelItem, visibleAt: number): void {
    if (visibleAt <= this.#now) this.#makeVisible(item, visibleAt);
    else item.place = { kind: 'delayed', visibleAt };
  }

  /** The ttl window opens at the moment the item becomes visible, not when the step notices. */
  #makeVisible(item: ModelItem, since: number): void {
    item.place = { kind: 'visible', expiresAt: item.ttlMs > 0 ? since + item.ttlMs : undefined };
  }

  #exhaust(item: ModelItem, useDead: boolean, ended: number, deadBatch: Exhausted[]): void {
    this.#items.delete(item.id);
    if (useDead) deadBatch.push({ item, ended });
    else this.#dropped += 1;
  }

  /**
   * Dead letters enter in the order their last deliveries ended, then put order, each
   * with a new dead-queue seq. Since every step settles all that ended by its time, that
   * order does not depend on which operation noticed an expiry.
   */
  #appendDead(batch: Exhausted[]): void {
    for (const { item } of [...batch].sort((a, b) => a.ended - b.ended || a.item.seq - b.item.seq)) {
      this.#deadSeq += 1;
      this.#dead.push({ id: item.id, seq: this.#deadSeq, priority: item.priority });
    }
  }

  #visible(): ModelItem[] {
    return [...this.#items.values()].filter((item) => item.place.kind === 'visible').sort(byDeliveryOrder);
  }

  #deadInOrder(): DeadLetter[] {
    return [...this.#dead].sort(byDeliveryOrder);
  }

  /** Items whose current delivery is one of `leases`, still live now; each once. */
  #holders(leases: readonly number[]): { item: ModelItem; place: InFlight }[] {
    const wanted = new Set(leases);
    const live: { item: ModelItem; place: InFlight }[] = [];
    for (const item of this.#items.values()) {
      const place = item.place;
      if (place.kind === 'inflight' && wanted.has(place.lease) && place.deadline > this.#now) live.push({ item, place });
    }
    return live;
  }
}
