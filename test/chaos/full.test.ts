/**
 * A Redis that is full: `maxmemory` reached under `noeviction`. Writes that would grow
 * memory are refused with a StoreFullError, a refused call changes nothing, what was
 * stored before stays intact, and the queue works again as soon as there is room.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { DataQueue, StoreError, StoreFullError, Visq, VisqError } from '../../src/index.js';
import { startRedisServer, type RedisServer } from '../harness/redis-server.js';
import { snapshotRedis } from '../harness/snapshot.js';
import { selectedKind } from '../harness/store-kind.js';

/** What a call threw or rejected with; undefined when it succeeded. */
async function failure(call: () => Promise<unknown>): Promise<unknown> {
  try {
    await call();
  } catch (error) {
    return error;
  }
  return undefined;
}

// it sets maxmemory on a redis-server of its own
describe.runIf(selectedKind() === 'redis')('a full Redis (maxmemory, noeviction)', () => {
  let server: RedisServer;
  let redis: Redis;

  beforeAll(async () => {
    server = await startRedisServer(['--maxmemory-policy', 'noeviction']);
    redis = server.client();
  });

  afterAll(async () => {
    await server?.stop();
  });

  it('refuses puts and executes with a StoreFullError, changes nothing, and keeps what was stored', async () => {
    const queue = new DataQueue<{ n: number }>(redis, 'orders', { prefix: 'full', visTimeout: 30, attempts: 2, useDead: true });
    const app = new Visq({ redis, prefix: 'full' });
    const echo = app.task('echo', (n: number) => n, { visTimeout: 30 });
    const stored = Array.from({ length: 50 }, (_, n) => ({ n }));
    const ids = await queue.putData(stored);
    await queue.putData([{ n: 50 }], { delay: 60, priority: 3 });
    await queue.dead.putData([{ n: 51 }]);
    const held = await queue.getDeliveries(5);
    const pending = await echo.execute([1]);

    await redis.config('SET', 'maxmemory', '1');
    try {
      const before = await snapshotRedis(redis, '{full:');
      const refused = [
        await failure(() => queue.putData([{ n: 100 }])),
        await failure(() => queue.putData(Array.from({ length: 1001 }, (_, n) => ({ n: 200 + n })))),
        await failure(() => queue.putData([{ n: 101 }], { delay: 5, priority: 7, ttl: 60 })),
        await failure(() => echo.execute([2])),
        await failure(() => echo.executeMany([[3], [4]])),
      ];
      for (const error of refused) {
        expect(error).toBeInstanceOf(StoreFullError);
        expect(error).toBeInstanceOf(StoreError);
        expect(error).toBeInstanceOf(VisqError);
        expect(error).toHaveProperty('code', 'ERR_VISQ_STORE_FULL');
        expect((error as Error).message).toMatch(/out of memory.*nothing was written/);
      }
      expect(await snapshotRedis(redis, '{full:')).toEqual(before);
      // finishing work frees memory, so it goes on while Redis is full
      expect(await queue.doneData([held[0]?.lease ?? ''])).toBe(1);
      expect(await pending.status()).toBe('queued');
    } finally {
      await redis.config('SET', 'maxmemory', '0');
    }

    // room again: nothing of the refused calls appears, everything stored before does
    const [later] = await queue.putData([{ n: 300 }]);
    await queue.releaseData(held.slice(1).map((d) => d.lease), { countDelivery: false });
    const all = new Map<string, { n: number }>();
    for (let batch = await queue.getData(1000); batch.size > 0; batch = await queue.getData(1000)) {
      for (const [lease, item] of batch) all.set(DataQueue.itemId(lease), item);
    }
    const expected = new Map(ids.slice(1).map((id, i) => [id, stored[i + 1]]));
    expected.set(later ?? '', { n: 300 });
    expect(all).toEqual(expected);
    expect([...(await queue.dead.peekData(10)).values()]).toEqual([{ n: 51 }]);
    expect((await queue.stats()).delayed).toBe(1);
    expect(await pending.wait(0)).toBe(false);
    await queue.close();
    await app.close();
  });
});
