import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { StoreError, StoreFullError, VERSION, VisqError } from '../../../src/index.js';
import { queueBase } from '../../../src/data/keys.js';
import { queueKey } from '../../../src/stores/redis/keys.js';
import { useStore } from '../../harness/context.js';
import { useQueues } from '../../harness/queues.js';

const ctx = useStore();
const open = useQueues(ctx);

async function calls(command: 'eval' | 'evalsha'): Promise<number> {
  const text = await ctx.redis.info('commandstats');
  return Number(new RegExp(`^cmdstat_${command}:calls=(\\d+)`, 'm').exec(text)?.[1] ?? 0);
}

async function failure(call: () => Promise<unknown>): Promise<unknown> {
  return call().then(
    () => undefined,
    (error: unknown) => error,
  );
}

// Redis-specific: script caching and Redis failures have no counterpart in other stores
describe.runIf(ctx.kind === 'redis')('scripts', () => {
  it('keep working after SCRIPT FLUSH, and are cached again by the first call', async () => {
    const queue = open<string>('q', { visTimeout: 30, useDead: true });
    await queue.putData(['warm']);
    await ctx.redis.script('FLUSH');
    await ctx.redis.config('RESETSTAT');
    await queue.putData(['a']);
    expect(await calls('eval')).toBe(1);
    await queue.putData(['b']);
    await queue.putData(['c']);
    expect(await calls('eval')).toBe(1);
    expect([...(await queue.getData(10, { visTimeout: 0 })).values()]).toEqual(['warm', 'a', 'b', 'c']);
  });

  it('run every operation after SCRIPT FLUSH', async () => {
    const queue = open<string>('q', { visTimeout: 30, attempts: 2, useDead: true });
    const flushed = async <R>(call: () => Promise<R>): Promise<R> => {
      await ctx.redis.script('FLUSH');
      return call();
    };
    expect(await flushed(() => queue.putData(['a', 'b', 'c']))).toHaveLength(3);
    expect((await flushed(() => queue.peekData(3))).size).toBe(3);
    const items = await flushed(() => queue.getData(3));
    expect(items.size).toBe(3);
    const [a, b, c] = [...items.keys()] as [string, string, string];
    expect(await flushed(() => queue.refreshData([a]))).toEqual(new Set([a]));
    expect((await flushed(() => queue.releaseData([b], { countDelivery: true }))).requeued).toEqual(new Set([b]));
    expect(await flushed(() => queue.doneData([a]))).toBe(1);
    await queue.dead.putData(['dead']);
    expect(await flushed(() => queue.redrive())).toBe(1);
    expect(await flushed(() => queue.stats())).toMatchObject({ ready: 2, inflight: 1 });
    expect(await flushed(() => queue.doneData([c]))).toBe(1);
    await flushed(() => queue.clear());
    expect(await ctx.snapshot()).toEqual({});
  });

  it('serve a blocked read woken after SCRIPT FLUSH (its read waits in Redis behind the wait)', async () => {
    const queue = open<string>('q', { visTimeout: 30 });
    await queue.putData(['warm']);
    await queue.doneData(await queue.getData(1));
    const waiter = queue.getData(1, { wait: 60 });
    while ((await ctx.blockedWaits()) !== 1) await new Promise((resolve) => setTimeout(resolve, 5));
    await ctx.redis.script('FLUSH');
    // a wake-up with nothing to read: the read behind it meets the empty script cache
    await ctx.redis.xadd(queueKey(queueBase(ctx.prefix, 'q'), 'signal'), 'MAXLEN', '1', '*', 'v', '1');
    const [id] = await open<string>('q', {}, ctx.server.client()).putData(['after']);
    expect([...(await waiter).entries()].map(([lease, item]) => [lease.split(':')[0], item])).toEqual([[id, 'after']]);
  });

  it('are not the only cache: a queue on a second connection works after a flush too', async () => {
    const queue = open<string>();
    const elsewhere = open<string>('q', {}, ctx.server.client());
    await queue.putData(['x']);
    await ctx.redis.script('FLUSH');
    expect([...(await elsewhere.getData(1)).values()]).toEqual(['x']);
  });
});

describe.runIf(ctx.kind !== 'memory')('store errors', () => {
  // these need the one server of the file: a connection of its own, or its CONFIG
  const singleServer = it.runIf(ctx.kind === 'redis');

  it('surface a Redis error as a StoreError with the Redis error as cause', async () => {
    const queue = open<string>();
    await queue.putData(['x']);
    // something other than visq wrote one of the queue's keys
    await ctx.redis.set(queueKey(queueBase(ctx.prefix, 'q'), 'ready'), 'not a list');
    const error = await failure(() => queue.getData(1));
    expect(error).toBeInstanceOf(StoreError);
    expect(error).toBeInstanceOf(VisqError);
    expect(error).toHaveProperty('code', 'ERR_VISQ_STORE');
    expect((error as StoreError).cause).toBeInstanceOf(Error);
    expect(((error as StoreError).cause as Error).message).toMatch(/WRONGTYPE/);
    expect((error as StoreError).message).toMatch(/get/);
  });

  singleServer('surface a closed connection as a StoreError', async () => {
    const connection = ctx.server.client();
    const queue = open<string>('q', {}, connection);
    await queue.putData(['x']);
    connection.disconnect();
    const error = await failure(() => queue.stats());
    expect(error).toBeInstanceOf(StoreError);
    expect((error as StoreError).cause).toBeInstanceOf(Error);
  });

  singleServer('surface a full Redis as a StoreFullError, with nothing written', async () => {
    const queue = open<string>();
    await queue.putData(['stored before']);
    const before = await ctx.snapshot();
    await ctx.redis.config('SET', 'maxmemory', '1');
    try {
      const error = await failure(() => queue.putData(['a', 'b']));
      expect(error).toBeInstanceOf(StoreFullError);
      expect(error).toBeInstanceOf(StoreError);
      expect(error).toHaveProperty('code', 'ERR_VISQ_STORE_FULL');
      expect((error as StoreFullError).cause).toBeInstanceOf(Error);
    } finally {
      await ctx.redis.config('SET', 'maxmemory', '0');
    }
    expect(await ctx.snapshot()).toEqual(before);
    expect([...(await queue.getData(5)).values()]).toEqual(['stored before']);
  });

  singleServer('let stats, peek and done go on while Redis is full, so consumers can drain it', async () => {
    const queue = open<string>('q', { visTimeout: 30 });
    await queue.putData(['a', 'b', 'c']);
    const held = await queue.getData(2);
    await ctx.redis.config('SET', 'maxmemory', '1');
    try {
      expect(await queue.stats()).toMatchObject({ ready: 1, inflight: 2 });
      expect((await queue.peekData(5)).size).toBe(1);
      expect(await queue.doneData(held)).toBe(2);
    } finally {
      await ctx.redis.config('SET', 'maxmemory', '0');
    }
  });
});

describe('VERSION', () => {
  it("equals package.json's version", () => {
    const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
    expect(VERSION).toBe(pkg.version);
  });
});
