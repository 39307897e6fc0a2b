/**
 * checkRedisConnection (behind `app.ping()` and `visq worker`'s start-up check): resolves
 * once a caller's client answers; otherwise names the server, without its password, and
 * the reason, at the first connection error or at the deadline, and leaves no listener
 * of its own on the client.
 */
import { once } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { StoreError } from '../../../src/errors.js';
import { checkRedisConnection, describeConnection } from '../../../src/stores/redis/connection-check.js';
import { useStore } from '../../harness/context.js';
import { freePort } from '../../harness/redis-server.js';

const ctx = useStore();

describe.runIf(ctx.kind === 'redis')('checkRedisConnection', () => {
  const clients: Redis[] = [];

  afterEach(() => {
    for (const client of clients.splice(0)) client.disconnect();
  });

  /** A client as a user makes one: default retries, no error listener of its own. */
  function client(url: string, options: { lazyConnect?: boolean } = {}): Redis {
    const redis = new Redis(url, options);
    clients.push(redis);
    return redis;
  }

  async function failure(check: Promise<void>): Promise<StoreError> {
    const error: unknown = await check.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(StoreError);
    return error as StoreError;
  }

  it('resolves for a reachable server, a lazy client included, and takes its listener off', async () => {
    for (const redis of [client(ctx.server.url), client(ctx.server.url, { lazyConnect: true })]) {
      await checkRedisConnection(redis, 2000);
      expect(redis.status).toBe('ready');
      expect(redis.listenerCount('error')).toBe(0);
    }
  });

  it('takes a NOPERM answer to PING as reachable: an ACL user may lack +ping', async () => {
    await ctx.server.client().acl('SETUSER', 'noping', 'reset', 'on', '>pw', '-@all', '+info');
    const redis = client(`redis://noping:pw@127.0.0.1:${ctx.server.port}`);
    await expect(redis.ping()).rejects.toThrow(/NOPERM/);
    await checkRedisConnection(redis, 2000);
  });

  it('names the server and the reason when the connection is refused', async () => {
    const url = `redis://127.0.0.1:${await freePort()}`;
    const error = await failure(checkRedisConnection(client(url), 5000));
    expect(error.message).toBe(`Cannot connect to Redis at ${url}: connect ECONNREFUSED ${url.slice('redis://'.length)}`);
  });

  it('hides the password and keeps quiet the errors of the failed attempt', async () => {
    const redis = client(`redis://nobody:s3cret@127.0.0.1:${ctx.server.port}/2`);
    const error = await failure(checkRedisConnection(redis, 5000));
    expect(error.message).toMatch(new RegExp(`^Cannot connect to Redis at redis://nobody:\\*\\*\\*@127\\.0\\.0\\.1:${ctx.server.port}/2: WRONGPASS`));
    expect(error.message).not.toContain('s3cret');
    // ioredis prints "Unhandled error event" for errors without a listener: the attempt's
    // later errors are still heard, until its connection closes
    await once(redis, 'close');
    expect(redis.listenerCount('error')).toBe(0);
  });

  it('gives up at the deadline when the server never answers', async () => {
    const sockets: Socket[] = [];
    const silent: Server = createServer((socket) => void sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as { port: number };
    try {
      const error = await failure(checkRedisConnection(client(`redis://127.0.0.1:${port}`), 200));
      expect(error.message).toBe(`Cannot connect to Redis at redis://127.0.0.1:${port}: no answer within 0.2 s`);
    } finally {
      for (const socket of sockets) socket.destroy();
      silent.close();
    }
  });

  it('fails at once for a client that was closed', async () => {
    const redis = client(ctx.server.url);
    await redis.quit();
    const error = await failure(checkRedisConnection(redis, 5000));
    expect(error.message).toContain('the client was closed');
  });

  it('describes TLS, users, databases and sockets as URLs', () => {
    const lazy = { lazyConnect: true } as const;
    expect(describeConnection(client('rediss://app:pw@cache.example:6380/4', lazy))).toBe('Redis at rediss://app:***@cache.example:6380/4');
    expect(describeConnection(client('redis://app@cache.example', lazy))).toBe('Redis at redis://app@cache.example:6379');
    const socket = new Redis({ path: '/run/redis.sock', lazyConnect: true });
    clients.push(socket);
    expect(describeConnection(socket)).toBe('Redis at redis+unix:///run/redis.sock');
  });
});
