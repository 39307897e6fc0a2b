/**
 * Visq.ping: the start-up check of the app's store, on every store. The failures of an
 * unreachable Redis are specified in test/stores/redis/connection-check.test.ts.
 */
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { StoreError, Visq, VisqRangeError } from '../../src/index.js';
import { useStore } from '../harness/context.js';
import { freePort } from '../harness/redis-server.js';
import { useTaskApps } from './helpers.js';

const ctx = useStore();
const t = useTaskApps(ctx);

describe('Visq.ping', () => {
  it('resolves when the store answers', async () => {
    await expect(t.app().ping()).resolves.toBeUndefined();
  });

  it('refuses a timeout that is not a positive number of seconds, and a closed app', async () => {
    const app = t.app();
    await expect(app.ping(0)).rejects.toBeInstanceOf(VisqRangeError);
    await expect(app.ping(-1)).rejects.toBeInstanceOf(VisqRangeError);
    await expect(app.ping(3601)).rejects.toBeInstanceOf(VisqRangeError);
    await app.close();
    await expect(app.ping()).rejects.toMatchObject({ code: 'ERR_VISQ_CLOSED' });
  });

  it.runIf(ctx.kind === 'redis')('names the server it cannot reach', async () => {
    const url = `redis://127.0.0.1:${await freePort()}`;
    const redis = new Redis(url, { lazyConnect: true });
    const app = new Visq({ redis });
    try {
      const error: unknown = await app.ping(5).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StoreError);
      expect((error as Error).message).toMatch(new RegExp(`^Cannot connect to Redis at ${url}: connect ECONNREFUSED`));
    } finally {
      await app.close();
      redis.disconnect();
    }
  });
});
