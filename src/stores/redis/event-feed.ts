/**
 * The pub/sub connection that carries task events to waiters. Pub/sub loses what is
 * published while a subscriber is disconnected, so what matters is to know when that
 * may have happened: after every (re)connection the feed subscribes its channels again,
 * waits for the subscriptions to take effect, then reports `reconnected` so that
 * waiters read their task again.
 *
 * On a single Redis that is ioredis's own duplicate connection and its `ready` event.
 * On a Cluster, ioredis's built-in subscriber moves to another node without any event
 * when its node goes away, so the feed keeps its own plain connection to one node
 * (cluster pub/sub reaches every node) and moves it itself.
 */
import { once } from 'node:events';
import { Cluster, Redis } from 'ioredis';
import type { RedisConnection } from './scripts/loader.js';

/** What the feed reports. */
export interface FeedHandlers {
  message(channel: string, message: string): void;
  /** Subscriptions were (re)established after a connection: events may have been missed. */
  reconnected(): void;
}

/** Gives up on a Cluster node after this many reconnection attempts and moves on. */
const NODE_RETRIES = 3;

export class TaskEventFeed {
  readonly #source: RedisConnection;
  readonly #handlers: FeedHandlers;
  readonly #channels = new Set<string>();
  #connection: Promise<Redis> | undefined;
  #closed = false;

  constructor(source: RedisConnection, handlers: FeedHandlers) {
    this.#source = source;
    this.#handlers = handlers;
  }

  /** Subscribes to `channel`; resolves once the subscription is in effect. */
  async subscribe(channel: string): Promise<void> {
    this.#channels.add(channel);
    await (await this.#current()).subscribe(channel);
  }

  async unsubscribe(channel: string): Promise<void> {
    this.#channels.delete(channel);
    const connection = await this.#connection;
    await connection?.unsubscribe(channel).catch(() => undefined);
  }

  close(): void {
    this.#closed = true;
    this.#channels.clear();
    void this.#connection?.then((connection) => connection.disconnect());
    this.#connection = undefined;
  }

  #current(): Promise<Redis> {
    this.#connection ??= this.#open();
    return this.#connection;
  }

  async #open(): Promise<Redis> {
    // the feed subscribes again itself after every (re)connection (#resubscribe, awaited);
    // ioredis's own resubscription sends a SUBSCRIBE whose failure no one observes, an
    // unhandled rejection that ends a Node process
    const connection =
      this.#source instanceof Cluster
        ? await this.#nodeConnection(this.#source)
        : this.#source.duplicate({ autoResubscribe: false });
    // failures surface through the subscribe promises and the reconnection below
    connection.on('error', () => undefined);
    connection.on('message', (channel: string, message: string) => this.#handlers.message(channel, message));
    connection.on('ready', () => void this.#resubscribe(connection));
    return connection;
  }

  /** A connection to one node of the cluster; when it ends for good, the feed moves on. */
  async #nodeConnection(cluster: Cluster): Promise<Redis> {
    // the cluster knows its nodes once it is ready
    if (cluster.nodes('all').length === 0) await once(cluster, 'ready');
    const nodes = cluster.nodes('all');
    const node = nodes[Math.floor(Math.random() * nodes.length)] as Redis;
    const { host, port, username, password, tls, connectionName } = node.options;
    const connection = new Redis({
      host,
      port,
      username,
      password,
      tls,
      connectionName: connectionName ? `${connectionName}:visq-events` : 'visq-events',
      autoResubscribe: false,
      retryStrategy: (times) => (times > NODE_RETRIES ? null : 100 * times),
    });
    connection.once('end', () => {
      if (this.#closed) return;
      this.#connection = undefined;
      // the new connection's `ready` subscribes the channels again and reports it
      if (this.#channels.size > 0) void this.#current();
    });
    return connection;
  }

  async #resubscribe(connection: Redis): Promise<void> {
    if (this.#closed || this.#channels.size === 0) return;
    try {
      // explicit, and awaited: a waiter must not read again before it can hear events
      await connection.subscribe(...this.#channels);
    } catch {
      return; // the connection dropped again; its next `ready` tries once more
    }
    this.#handlers.reconnected();
  }
}
