/**
 * Per-file test context: one private redis-server for the file, one client, and a key
 * prefix per test derived from its name, so that tests never see each other's keys.
 */
import { afterAll, beforeAll, beforeEach, expect } from 'vitest';
import type { Redis } from 'ioredis';
import { resetClock } from '../../src/data/clock.js';
import { startRedisServer, type RedisServer } from './redis-server.js';

export interface RedisContext {
  /** The file's server. */
  readonly server: RedisServer;
  /** A client of the file's server (the clock test hook is reset before each test). */
  readonly redis: Redis;
  /** A prefix unique to the current test. */
  readonly prefix: string;
}

let counter = 0;

function prefixFor(testName: string | undefined): string {
  counter += 1;
  const slug = (testName ?? 'test').toLowerCase().replace(/[^a-z0-9]+/g, '-').slice(-40);
  return `t${counter}-${slug}`;
}

/** Registers the hooks of a file that talks to Redis and returns its live context. */
export function useRedis(extraArgs: readonly string[] = []): RedisContext {
  let server: RedisServer | undefined;
  let redis: Redis | undefined;
  let prefix = '';
  beforeAll(async () => {
    server = await startRedisServer(extraArgs);
    redis = server.client();
  });
  afterAll(async () => {
    await server?.stop();
  });
  beforeEach(() => {
    prefix = prefixFor(expect.getState().currentTestName);
    if (redis) resetClock(redis);
  });
  return {
    get server() {
      if (!server) throw new Error('the redis-server is not started yet (use the context inside tests)');
      return server;
    },
    get redis() {
      if (!redis) throw new Error('the redis client is not ready yet (use the context inside tests)');
      return redis;
    },
    get prefix() {
      return prefix;
    },
  };
}
