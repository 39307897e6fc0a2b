/**
 * A command sent twice. When a connection drops while a command is out, ioredis sends it
 * again after reconnecting (`autoResendUnfulfilledCommands`, on by default), so Redis may
 * run a visq script twice while the caller sees the second answer only. The chaos run
 * does this with CLIENT KILL and restarts; here a client that sends some scripts twice
 * on purpose makes the cases exact. Nothing may be lost and no lease may become live
 * twice; what each call answers is checked as well.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { DataQueue, Visq } from '../../src/index.js';
import { startRedisServer, type RedisServer } from '../harness/redis-server.js';
import { selectedKind } from '../harness/store-kind.js';

/**
 * `redis`, except that the script calls (EVALSHA, and EVAL after NOSCRIPT) that `twice`
 * picks are sent twice; the caller gets the second answer.
 */
function resending(redis: Redis, twice: (args: readonly unknown[]) => boolean): Redis {
  return new Proxy(redis, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if ((property !== 'evalsha' && property !== 'eval') || typeof value !== 'function') return value;
      const script = value as (...args: unknown[]) => Promise<unknown>;
      return async (...args: unknown[]) => {
        if (!twice(args)) return script.apply(target, args);
        await script.apply(target, args);
        return script.apply(target, args);
      };
    },
  });
}

const has = (args: readonly unknown[], text: string): boolean => args.some((a) => typeof a === 'string' && a === text);

// it runs on a redis-server of its own
describe.runIf(selectedKind() === 'redis')('a visq script sent twice, as after a dropped connection', () => {
  let server: RedisServer;
  let redis: Redis;

  beforeAll(async () => {
    server = await startRedisServer();
    redis = server.client();
  });

  afterAll(async () => {
    await server?.stop();
  });

  it('a done sent twice finishes the item once; its answer can say 0', async () => {
    // the done script's mode argument: 'count' for doneData
    const queue = new DataQueue(resending(redis, (args) => has(args, 'count')), 'done-twice', { visTimeout: 30 });
    await queue.putData(['x']);
    const [delivery] = await queue.getDeliveries(1);
    // the first run finished it; the repeat found the lease gone (docs/operations.md)
    expect(await queue.doneData([delivery?.lease ?? ''])).toBe(0);
    expect(await queue.stats()).toMatchObject({ ready: 0, inflight: 0, delayed: 0 });
    await queue.close();
  });

  // Found here: the `started` transition counts a run each time it is applied, so a start
  // sent twice would count two runs for one, and on the last allowed attempt mark a healthy
  // task failed. The record keeps the lease the run started under, so the repeat is
  // recognised and counts nothing.
  it('a task whose start is sent twice still runs, and counts one run', async () => {
    const app = new Visq({ redis: resending(redis, (args) => has(args, 'started')), prefix: 'start-twice' });
    const echo = app.task('echo', (text: string) => text, { attempts: 1, visTimeout: 30, useDead: true, saveResults: 60 });
    const worker = app.worker({ concurrency: 1 });
    try {
      const et = await echo.execute(['hello']);
      expect(await et.wait(10)).toBe(true);
      expect(await et.status()).toBe('done');
      expect(await et.record()).toMatchObject({ attempt: 1 });
    } finally {
      await worker.close();
      await app.close();
    }
  });
});
