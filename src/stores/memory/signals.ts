/**
 * Change signals of a MemoryStore: the in-process twin of the scripts' signal stream.
 * Every put (and every release or redrive that makes items visible) bumps the queue's
 * version and wakes its blocked readers; a read hands out the version it saw as its
 * cursor, so a put that lands between the read and the wait is never missed.
 */

/** Longest timer Node accepts; a longer wait simply wakes early (spurious wake-ups are allowed). */
const MAX_TIMER_MS = 2 ** 31 - 1;

export class ChangeSignals {
  /** Store-wide, so versions keep increasing across a queue's clear, as stream ids do. */
  #last = 0;
  readonly #versions = new Map<string, number>();
  readonly #waiting = new Map<string, Set<() => void>>();
  #closed = false;

  /** How many waits are pending. */
  get pending(): number {
    let pending = 0;
    for (const waiters of this.#waiting.values()) pending += waiters.size;
    return pending;
  }

  /** The cursor a read of queue `base` returns: the last change it could have seen. */
  cursor(base: string): string {
    return String(this.#versions.get(base) ?? 0);
  }

  notify(base: string): void {
    this.#last += 1;
    this.#versions.set(base, this.#last);
    const waiters = this.#waiting.get(base);
    if (!waiters) return;
    this.#waiting.delete(base);
    for (const wake of waiters) wake();
  }

  /** Resolves at the first change of `base` after `cursor`, after `timeoutMs`, on abort or on close. */
  wait(base: string, cursor: string, timeoutMs: number, signal?: AbortSignal): Promise<void> {
    const since = Number(cursor);
    if (this.#closed || signal?.aborted || !Number.isFinite(since) || (this.#versions.get(base) ?? 0) > since) {
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', wake);
        const waiters = this.#waiting.get(base);
        if (waiters?.delete(wake) && waiters.size === 0) this.#waiting.delete(base);
        resolve();
      };
      const timer = setTimeout(wake, Math.min(MAX_TIMER_MS, Math.max(1, Math.ceil(timeoutMs))));
      signal?.addEventListener('abort', wake, { once: true });
      let waiters = this.#waiting.get(base);
      if (!waiters) {
        waiters = new Set();
        this.#waiting.set(base, waiters);
      }
      waiters.add(wake);
    });
  }

  /** Ends every pending wait and clears its timer; later waits return at once. */
  close(): void {
    this.#closed = true;
    const all = [...this.#waiting.values()];
    this.#waiting.clear();
    for (const waiters of all) for (const wake of waiters) wake();
  }
}
