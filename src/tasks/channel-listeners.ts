/**
 * The task event listeners of a task store whose events arrive on named channels of one
 * connection (Redis pub/sub, PostgreSQL LISTEN): per channel, its listeners and the one
 * subscription they share, taken with the first listener and given up with the last.
 * A store parses its own messages and hands the events here.
 */
import type { TaskEvent, TaskEventListener } from './records.js';

/** What a store's event connection does for its listeners. */
export interface ChannelFeed {
  /** Resolves once messages of `channel` reach the feed; rejects when it cannot subscribe. */
  subscribe(channel: string): Promise<unknown>;
  unsubscribe(channel: string): Promise<unknown>;
}

export class ChannelListeners {
  /** Per channel: its listeners, and the subscription every listener must wait for. */
  readonly #channels = new Map<string, { listeners: Set<TaskEventListener>; subscribed: Promise<unknown> }>();

  /**
   * Adds `listener` to `channel`, subscribing through `feed` for its first listener, and
   * resolves once the subscription took effect: a listener that returned sooner could
   * miss an event between its caller's read and the subscription. Resolves the function
   * that removes the listener (and unsubscribes after the last). Rejects with the feed's
   * error, the channel then forgotten, so that the next listener subscribes anew.
   */
  async add(feed: ChannelFeed, channel: string, listener: TaskEventListener): Promise<() => Promise<void>> {
    let entry = this.#channels.get(channel);
    if (!entry) {
      entry = { listeners: new Set(), subscribed: feed.subscribe(channel) };
      this.#channels.set(channel, entry);
    }
    entry.listeners.add(listener);
    try {
      await entry.subscribed;
    } catch (error) {
      this.#channels.delete(channel);
      throw error;
    }
    return async () => {
      const current = this.#channels.get(channel);
      if (!current?.listeners.delete(listener) || current.listeners.size > 0) return;
      this.#channels.delete(channel);
      await feed.unsubscribe(channel);
    };
  }

  /** Whether anyone listens to `channel`: a message of a channel no one listens to need not be parsed. */
  has(channel: string): boolean {
    return this.#channels.has(channel);
  }

  /** Hands `event` to the listeners of `channel`. */
  emit(channel: string, event: TaskEvent): void {
    const listeners = this.#channels.get(channel)?.listeners;
    if (listeners) for (const listener of listeners) listener(event);
  }

  /** The feed was away and events of that time are lost: every listener reads again. */
  reconnected(): void {
    for (const { listeners } of this.#channels.values()) {
      for (const listener of listeners) listener({ kind: 'reconnected' });
    }
  }

  clear(): void {
    this.#channels.clear();
  }
}
