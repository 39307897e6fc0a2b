/**
 * The limits of one MemoryStore queue: the in-process twin of scripts/lib/limits.lua
 * (the same GCRA in whole µs, the same pause, the in-flight cap counted by live leases,
 * the same reasons and waits), so that a limited queue behaves alike on every store.
 */
import { bucketAt, type LimitedBy, type ReadLimits } from '../../data/limits.js';

/** What a read may take: `allowed` > 0, or 0 with why and for how long (ms, -1: unknown). */
export type Gate = { readonly allowed: number } | { readonly allowed: 0; readonly limited: LimitedBy; readonly waitMs: number };

export class LimitState {
  /** GCRA theoretical arrival time, µs (0: the bucket is full). */
  #tatUs = 0;
  /** Reads are paused until then, ms (0: not paused). */
  #pausedUntil = 0;
  /** A reader waits for a slot under maxInflight: the next lease that ends wakes it. */
  #slotWaiter = false;
  /** Wakes the readers a pause or the in-flight cap holds (the limit signal). */
  readonly #wake: () => void;

  constructor(wake: () => void) {
    this.#wake = wake;
  }

  /** Whether a read must go through {@link gate}: limited, or the queue is paused. */
  applies(limits: ReadLimits | undefined): boolean {
    return limits !== undefined || this.#pausedUntil > 0;
  }

  /**
   * How many of `count` items a read may take now (see gate_read in lib/limits.lua):
   * `inflight` is the live leases, `nextDeadline` the earliest lease deadline.
   */
  gate(count: number, limits: ReadLimits | undefined, now: number, inflight: number, nextDeadline: number | undefined): Gate {
    if (this.#pausedUntil > now) return { allowed: 0, limited: 'paused', waitMs: this.#pausedUntil - now };
    if (!limits) return { allowed: count };
    let allowed = count;
    if (limits.maxInflight > 0) {
      const free = limits.maxInflight - inflight;
      if (free <= 0) {
        this.#slotWaiter = true;
        return { allowed: 0, limited: 'inflight', waitMs: nextDeadline === undefined ? -1 : Math.max(0, nextDeadline - now) };
      }
      allowed = Math.min(allowed, free);
    }
    if (limits.intervalUs > 0) {
      const { tokens, waitMs } = bucketAt(this.#tatUs, now, limits);
      if (tokens <= 0) return { allowed: 0, limited: 'rate', waitMs };
      allowed = Math.min(allowed, tokens);
    }
    return { allowed };
  }

  /** Takes `n` tokens (after a gated read delivered `n` items). */
  spend(limits: ReadLimits | undefined, n: number, now: number): void {
    if (!limits || limits.intervalUs === 0 || n === 0) return;
    this.#tatUs = Math.max(this.#tatUs, now * 1000) + n * limits.intervalUs;
  }

  /** Pauses reads until now + ms, or lifts the pause (0); wakes held readers. Returns the end, 0 when lifted. */
  pause(ms: number, now: number): number {
    this.#pausedUntil = ms > 0 ? now + ms : 0;
    this.#wake();
    return this.#pausedUntil;
  }

  /** A lease ended (done, release, fail): wakes a reader waiting for a slot. */
  freed(): void {
    if (!this.#slotWaiter) return;
    this.#slotWaiter = false;
    this.#wake();
  }

  /** Forgets everything, as clear deletes the meta hash. */
  clear(): void {
    this.#tatUs = 0;
    this.#pausedUntil = 0;
    this.#slotWaiter = false;
  }
}
