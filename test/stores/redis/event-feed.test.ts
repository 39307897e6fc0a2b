/**
 * TaskEventFeed, the pub/sub connection of task events: after a reconnection it
 * subscribes its channels itself, and closing it at any moment leaves no promise to
 * reject unobserved (ioredis's own resubscription sends a SUBSCRIBE nobody awaits).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { TaskEventFeed } from '../../../src/stores/redis/event-feed.js';
import { startRedisServer, type RedisServer } from '../../harness/redis-server.js';
import { selectedKind } from '../../harness/store-kind.js';

// it kills and restarts a redis-server of its own
describe.runIf(selectedKind() === 'redis')('TaskEventFeed', () => {
  const servers: RedisServer[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((server) => server.stop()));
  });

  /** A feed on a fresh server, and the connection it opened (its duplicate of the source). */
  async function feedOnServer(
    handlers: { reconnected(): void },
  ): Promise<{ server: RedisServer; feed: TaskEventFeed; connection: () => Redis }> {
    const server = await startRedisServer();
    servers.push(server);
    const source = server.client();
    source.on('error', () => undefined);
    let opened: Redis | undefined;
    const duplicate = source.duplicate.bind(source);
    source.duplicate = ((...args: Parameters<Redis['duplicate']>) => (opened = duplicate(...args))) as Redis['duplicate'];
    const feed = new TaskEventFeed(source, { message: () => undefined, ...handlers });
    return {
      server,
      feed,
      connection: () => {
        if (!opened) throw new Error('the feed opened no connection');
        return opened;
      },
    };
  }

  it('subscribes again after Redis restarts, and says so', async () => {
    let reconnections = 0;
    const { server, feed } = await feedOnServer({ reconnected: () => (reconnections += 1) });
    await feed.subscribe('events');
    // the first connection may report itself too (a channel was asked for before it)
    await sleep(100);
    const before = reconnections;
    await server.kill();
    await server.restart();
    await expect.poll(() => reconnections, { timeout: 10_000 }).toBeGreaterThan(before);
    const admin = server.client();
    expect(await admin.pubsub('NUMSUB', 'events')).toEqual(['events', 1]);
    feed.close();
  });

  it('leaves no rejection unobserved when subscribing again fails', async () => {
    // a SUBSCRIBE refused after a reconnection: ioredis's own resubscription would reject
    // with nobody listening (an unhandled rejection ends a Node process by default)
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    const { server, feed, connection } = await feedOnServer({ reconnected: () => undefined });
    const admin = server.client();
    try {
      await feed.subscribe('events');
      await admin.call('ACL', 'SETUSER', 'default', '-subscribe');
      const back = new Promise((resolve) => connection().once('ready', resolve));
      await admin.client('KILL', 'TYPE', 'pubsub');
      await back;
      await sleep(200);
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
      await admin.call('ACL', 'SETUSER', 'default', '+subscribe');
      feed.close();
    }
  });
});
