/**
 * warnOnUnsafeEviction: a process warning when Redis may evict visq's keys, once per
 * connection, and silence (never an error) when CONFIG cannot be asked.
 */
import { setImmediate as tick } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EVICTION_WARNING_CODE, warnOnUnsafeEviction } from '../../../src/stores/redis/eviction-check.js';
import { startRedisServer, type RedisServer } from '../../harness/redis-server.js';
import { selectedKind } from '../../harness/store-kind.js';

/** Warnings emitted while `run` runs (emitWarning delivers them on a later tick). */
async function warningsDuring(run: () => Promise<unknown>): Promise<Error[]> {
  const seen: Error[] = [];
  const listener = (warning: Error): void => void seen.push(warning);
  process.on('warning', listener);
  try {
    await run();
    await tick();
  } finally {
    process.off('warning', listener);
  }
  return seen.filter((w) => (w as Error & { code?: string }).code === EVICTION_WARNING_CODE);
}

// it sets the policy of redis-servers of its own
describe.runIf(selectedKind() === 'redis')('warnOnUnsafeEviction', () => {
  let server: RedisServer;
  const clients: Redis[] = [];

  beforeAll(async () => {
    server = await startRedisServer();
  });

  afterEach(() => {
    for (const client of clients.splice(0)) client.disconnect();
  });

  afterAll(async () => {
    await server?.stop();
  });

  function connect(options: { username?: string; password?: string } = {}): Redis {
    const client = new Redis({ host: '127.0.0.1', port: server.port, ...options });
    clients.push(client);
    return client;
  }

  it.each(['allkeys-lru', 'allkeys-lfu', 'allkeys-random'])('warns once per connection under %s', async (policy) => {
    await server.client().config('SET', 'maxmemory-policy', policy);
    const redis = connect();
    const first = await warningsDuring(async () => expect(await warnOnUnsafeEviction(redis)).toBe(policy));
    expect(first).toHaveLength(1);
    expect(first[0]?.name).toBe('VisqWarning');
    expect(first[0]?.message).toContain(policy);
    expect(first[0]?.message).toContain('docs/operations.md');
    expect(await warningsDuring(() => warnOnUnsafeEviction(redis))).toEqual([]);
    // another connection is checked on its own
    expect(await warningsDuring(() => warnOnUnsafeEviction(connect()))).toHaveLength(1);
  });

  it.each(['noeviction', 'volatile-lru', 'volatile-lfu', 'volatile-random', 'volatile-ttl'])(
    'says nothing under %s',
    async (policy) => {
      await server.client().config('SET', 'maxmemory-policy', policy);
      const redis = connect();
      expect(await warningsDuring(async () => expect(await warnOnUnsafeEviction(redis)).toBeUndefined())).toEqual([]);
    },
  );

  it('says nothing, and does not fail, when an ACL forbids CONFIG', async () => {
    await server.client().config('SET', 'maxmemory-policy', 'allkeys-lru');
    await server.client().acl('SETUSER', 'no-config', 'on', '>secret', '~*', '+@all', '-config');
    const redis = connect({ username: 'no-config', password: 'secret' });
    expect(await warningsDuring(async () => expect(await warnOnUnsafeEviction(redis)).toBeUndefined())).toEqual([]);
  });

  it('says nothing, and does not fail, when CONFIG is renamed away', async () => {
    const hidden = await startRedisServer(['--rename-command', 'CONFIG', 'visq-test-hidden-config', '--maxmemory-policy', 'allkeys-lru']);
    try {
      const redis = hidden.client();
      expect(await warningsDuring(async () => expect(await warnOnUnsafeEviction(redis)).toBeUndefined())).toEqual([]);
    } finally {
      await hidden.stop();
    }
  });

  it('asks again after a connection failure, which is no answer', async () => {
    await server.client().config('SET', 'maxmemory-policy', 'allkeys-lfu');
    // not connected yet, and told not to queue commands: the question cannot be asked
    const redis = new Redis({ host: '127.0.0.1', port: server.port, enableOfflineQueue: false });
    clients.push(redis);
    const ready = new Promise((resolve) => redis.once('ready', resolve));
    expect(await warningsDuring(() => warnOnUnsafeEviction(redis))).toEqual([]);
    await ready;
    expect(await warningsDuring(() => warnOnUnsafeEviction(redis))).toHaveLength(1);
  });
});
