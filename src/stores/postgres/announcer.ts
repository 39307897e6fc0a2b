/**
 * Throttles the NOTIFYs that wake blocked readers of other processes when this store's
 * own statements make items visible. A committing transaction that has sent a NOTIFY
 * takes a database-wide lock, which serialises such commits, so a busy queue must not
 * NOTIFY on every put. Per queue: the first statement in a quiet spell sends its NOTIFY
 * itself (no added latency); statements within the next INTERVAL_MS send none, and one
 * trailing NOTIFY follows at the end of the interval — sent after those statements
 * committed, so that a reader it wakes sees their items. Readers of this process are
 * woken at once after each commit (Wakeups.wake), without a NOTIFY.
 *
 * Statements in the caller's transaction always carry their NOTIFY (PostgreSQL delivers
 * it on COMMIT, never on ROLLBACK, and folds repeats within one transaction): their
 * commit time is unknown here, so neither a trailing NOTIFY nor a local wake-up could be
 * timed right.
 */

/** The throttle window per queue, ms. */
export const INTERVAL_MS = 5;

export class Announcer {
  readonly #send: (base: string) => Promise<void>;
  /** When each queue last had a NOTIFY (sent, or carried by a statement), ms. */
  readonly #last = new Map<string, number>();
  readonly #trailing = new Map<string, NodeJS.Timeout>();
  /** Trailing NOTIFYs in flight, awaited by close(). */
  readonly #sending = new Set<Promise<void>>();
  #warned = false;

  /** @param send - sends one NOTIFY for `base` on its own (autocommit) statement. */
  constructor(send: (base: string) => Promise<void>) {
    this.#send = send;
  }

  /** Whether the next statement that makes items of `base` visible should NOTIFY itself. */
  claim(base: string): boolean {
    const now = performance.now();
    const last = this.#last.get(base);
    if (last !== undefined && now - last < INTERVAL_MS) return false;
    this.#last.set(base, now);
    return true;
  }

  /**
   * After a committed statement made items of `base` visible without its own NOTIFY:
   * makes sure a trailing one follows.
   */
  owe(base: string): void {
    if (this.#trailing.has(base)) return;
    const last = this.#last.get(base) ?? 0;
    const timer = setTimeout(() => this.#flush(base), Math.max(0, last + INTERVAL_MS - performance.now()));
    this.#trailing.set(base, timer);
  }

  /** Sends what is owed now and waits for it (the store is closing). */
  async close(): Promise<void> {
    for (const [base, timer] of this.#trailing) {
      clearTimeout(timer);
      this.#flush(base);
    }
    await Promise.all(this.#sending);
  }

  #flush(base: string): void {
    this.#trailing.delete(base);
    this.#last.set(base, performance.now());
    const sending = this.#send(base).then(
      () => {
        this.#warned = false;
      },
      (error: unknown) => {
        // a wake-up is a hint: readers elsewhere still wake at their deadlines, and the
        // next NOTIFY reaches them; say so once per outage rather than per queue
        if (this.#warned) return;
        this.#warned = true;
        process.emitWarning(`visq: a NOTIFY to wake blocked readers failed: ${(error as Error).message}`, 'VisqWarning');
      },
    );
    this.#sending.add(sending);
    void sending.finally(() => this.#sending.delete(sending));
  }
}
