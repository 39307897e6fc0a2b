/**
 * The LISTEN connection that carries task events to waiters (`EnqueuedTask.wait`), one
 * per task store (per app), with one channel per task queue (sql/tasks/lib.ts
 * notifyEvents). A NOTIFY sent while the connection is down is lost, so what matters is
 * to know when that may have happened: after the connection is lost, the feed connects
 * again (backing off while the server is away), LISTENs to its channels again, and only
 * then reports `reconnected`, so that waiters read their task again.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { ListenClient } from './connection.js';

/** What the feed reports. */
export interface FeedHandlers {
  message(channel: string, payload: string): void;
  /** The channels are listened to again after the connection was lost: events may have been missed. */
  reconnected(): void;
}

const RETRY_MIN_MS = 50;
const RETRY_MAX_MS = 2000;

/** `LISTEN`/`UNLISTEN` of a channel, quoted as an identifier. */
function command(verb: 'LISTEN' | 'UNLISTEN', channel: string): string {
  return `${verb} "${channel.replace(/"/g, '""')}"`;
}

export class PostgresEventFeed {
  readonly #open: () => ListenClient;
  readonly #handlers: FeedHandlers;
  readonly #channels = new Set<string>();
  /** The connection, once connected and listening (or while it connects). */
  #connection: Promise<ListenClient> | undefined;
  #live: ListenClient | undefined;
  #reconnecting = false;
  #closed = false;

  /** @param open - a new, unconnected client for the connection. */
  constructor(open: () => ListenClient, handlers: FeedHandlers) {
    this.#open = open;
    this.#handlers = handlers;
  }

  /** Listens to `channel`; resolves once the LISTEN is in effect. */
  async subscribe(channel: string): Promise<void> {
    const first = !this.#channels.has(channel);
    this.#channels.add(channel);
    const client = await this.#current();
    // a connection made just now may have listened to it already: LISTEN is idempotent
    if (first) await client.query(command('LISTEN', channel));
  }

  async unsubscribe(channel: string): Promise<void> {
    this.#channels.delete(channel);
    await this.#live?.query(command('UNLISTEN', channel)).catch(() => undefined);
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#channels.clear();
    const connection = this.#connection;
    this.#connection = undefined;
    this.#live = undefined;
    const client = await connection?.catch(() => undefined);
    await client?.end().catch(() => undefined);
  }

  #current(): Promise<ListenClient> {
    this.#connection ??= this.#connect().catch((error: unknown) => {
      this.#connection = undefined;
      throw error;
    });
    return this.#connection;
  }

  async #connect(): Promise<ListenClient> {
    const client = this.#open();
    client.on('error', () => this.#lost(client));
    client.on('end', () => this.#lost(client));
    client.on('notification', (message) => {
      if (message.payload !== undefined) this.#handlers.message(message.channel, message.payload);
    });
    try {
      await client.connect();
      for (const channel of this.#channels) await client.query(command('LISTEN', channel));
    } catch (error) {
      await client.end().catch(() => undefined);
      throw error;
    }
    if (this.#closed) {
      await client.end().catch(() => undefined);
      throw new Error('the task event feed was closed');
    }
    this.#live = client;
    return client;
  }

  /** The connection failed or ended: connect again while anyone listens. */
  #lost(client: ListenClient): void {
    if (client !== this.#live) return;
    this.#live = undefined;
    this.#connection = undefined;
    void client.end().catch(() => undefined);
    void this.#reconnect();
  }

  async #reconnect(): Promise<void> {
    if (this.#reconnecting) return;
    this.#reconnecting = true;
    try {
      let delay = RETRY_MIN_MS;
      while (!this.#closed && this.#channels.size > 0) {
        try {
          await this.#current();
          this.#handlers.reconnected();
          return;
        } catch {
          await sleep(delay);
          delay = Math.min(RETRY_MAX_MS, delay * 2);
        }
      }
    } finally {
      this.#reconnecting = false;
    }
  }
}
