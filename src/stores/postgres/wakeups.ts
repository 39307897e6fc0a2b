/**
 * Blocking reads on PostgreSQL: one LISTEN connection per store, opened on the first
 * blocking read, hears every NOTIFY the store's schema sends (payload: the queue's key
 * base) and wakes the readers waiting on that queue.
 *
 * A NOTIFY is only a hint that something may be visible; a reader never relies on one
 * alone. DataQueue wakes at the next due time (a delay ending, a lease deadline) whatever
 * happens, and a reader's cursor makes a NOTIFY that arrives between its read and its
 * wait count: the cursor is the number of wake-ups heard for the queue, taken before the
 * read is sent, and a wait from a cursor that is already behind returns at once. A read
 * made before the connection listened gets the cold cursor '', whose wait starts
 * listening and returns, so that the reader reads again with a cursor that counts. A lost
 * connection wakes every waiter (their cursors go stale with it), so nothing waits on a
 * connection that can no longer hear.
 */
import { toStoreError, type ListenClient } from './connection.js';

export class Wakeups {
  readonly #open: () => ListenClient;
  readonly #channel: string;
  #client: ListenClient | undefined;
  #listening: Promise<void> | undefined;
  #live = false;
  /** Bumped when a connection is lost: cursors of the old one never match again. */
  #epoch = 0;
  /** Wake-ups heard per queue, for the queues a cursor was taken of. */
  readonly #heard = new Map<string, number>();
  readonly #waiters = new Map<string, Set<() => void>>();
  #closed = false;

  /** @param open - a new, unconnected client for the LISTEN connection. */
  constructor(open: () => ListenClient, channel: string) {
    this.#open = open;
    this.#channel = channel;
  }

  /** The cursor of queue `base` now: '' while not listening. */
  cursor(base: string): string {
    if (!this.#live) return '';
    let heard = this.#heard.get(base);
    if (heard === undefined) {
      heard = 0;
      this.#heard.set(base, heard);
    }
    return `${this.#epoch}:${heard}`;
  }

  /** Counts a wake-up of `base` and ends the waits on it (a NOTIFY, or a commit of this process). */
  wake(base: string): void {
    const heard = this.#heard.get(base);
    if (heard !== undefined) this.#heard.set(base, heard + 1);
    const waiters = this.#waiters.get(base);
    if (!waiters) return;
    this.#waiters.delete(base);
    for (const resolve of waiters) resolve();
  }

  /**
   * Resolves once `base` was woken after `cursor` was taken, `timeoutMs` passed or
   * `signal` aborted; at once for a cursor that is behind, and for the cold cursor after
   * starting to listen. Spurious wake-ups are allowed: the caller reads again.
   */
  async wait(base: string, cursor: string, timeoutMs: number, signal?: AbortSignal): Promise<void> {
    if (this.#closed || signal?.aborted) return;
    if (cursor === '') {
      await this.#listen();
      return;
    }
    if (cursor !== this.cursor(base)) return;
    await new Promise<void>((resolve) => {
      const waiters = this.#waiters.get(base) ?? new Set<() => void>();
      this.#waiters.set(base, waiters);
      const done = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        waiters.delete(done);
        if (waiters.size === 0 && this.#waiters.get(base) === waiters) this.#waiters.delete(base);
        resolve();
      };
      const timer = setTimeout(done, Math.max(1, Math.ceil(timeoutMs)));
      signal?.addEventListener('abort', done, { once: true });
      waiters.add(done);
    });
  }

  /** How many reads are waiting (for tests). */
  get pending(): number {
    let pending = 0;
    for (const waiters of this.#waiters.values()) pending += waiters.size;
    return pending;
  }

  /** Ends every wait and closes the connection. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#wakeAll();
    const client = this.#client;
    this.#client = undefined;
    this.#live = false;
    await this.#listening?.catch(() => undefined);
    await (client ?? this.#client)?.end().catch(() => undefined);
  }

  #listen(): Promise<void> {
    this.#listening ??= this.#connect().catch((error: unknown) => {
      this.#listening = undefined;
      throw toStoreError(error, 'listening for puts');
    });
    return this.#listening;
  }

  async #connect(): Promise<void> {
    const client = this.#open();
    const lost = (): void => this.#lose(client);
    client.on('error', lost);
    client.on('end', lost);
    client.on('notification', (message) => {
      if (message.channel === this.#channel && message.payload !== undefined) this.wake(message.payload);
    });
    try {
      await client.connect();
      await client.query(`LISTEN "${this.#channel.replace(/"/g, '""')}"`);
    } catch (error) {
      await client.end().catch(() => undefined);
      throw error;
    }
    if (this.#closed) {
      await client.end().catch(() => undefined);
      return;
    }
    this.#client = client;
    this.#live = true;
  }

  /** The LISTEN connection failed or ended: the next blocking read listens anew. */
  #lose(client: ListenClient): void {
    if (client !== this.#client) return;
    this.#client = undefined;
    this.#live = false;
    this.#listening = undefined;
    this.#epoch += 1;
    this.#heard.clear();
    void client.end().catch(() => undefined);
    this.#wakeAll();
  }

  #wakeAll(): void {
    const all = [...this.#waiters.values()];
    this.#waiters.clear();
    for (const waiters of all) for (const resolve of waiters) resolve();
  }
}
