import { describe, expect, it } from 'vitest';
import { DataQueue } from '../../src/index.js';
import { useStore } from '../harness/context.js';
import { isRedisKind } from '../harness/store-kind.js';
import { useQueues } from '../harness/queues.js';

const ctx = useStore();
const open = useQueues(ctx);

/** The part of a key Redis Cluster hashes: the first `{…}` with something inside, else the key. */
function hashTag(key: string): string {
  const open = key.indexOf('{');
  if (open < 0) return key;
  const close = key.indexOf('}', open + 1);
  return close > open + 1 ? key.slice(open + 1, close) : key;
}

/**
 * Puts the queue's data in every shape it can take: ready, prioritised, delayed, with a
 * ttl, held, refreshed alone, dead letters (held and delayed too).
 */
async function useEveryKey(queue: DataQueue<string>): Promise<void> {
  await queue.putData(['dead-1', 'dead-2']);
  await queue.getData(2, { visTimeout: 0.001 });
  await queue.putData(['held-1', 'held-2']);
  const [held] = (await queue.getData(2, { visTimeout: 30 })).keys();
  await queue.refreshData([held as string], { visTimeout: 60 });
  await queue.putData(['ready']);
  await queue.putData(['urgent'], { priority: 5, ttl: 60 });
  await queue.putData(['later'], { delay: 60 });
  await queue.stats();
  await queue.dead.getData(1, { visTimeout: 30 });
  await queue.dead.putData(['dead-later'], { delay: 60 });
  await queue.dead.putData(['dead-urgent'], { priority: 1 });
}

const names = [
  'plain',
  'with:colons:in:it',
  'a:dead',
  'open{brace',
  '{{',
  'with spaces  and\ttabs',
  'ünïcödé 队列 🚀',
  'x'.repeat(256),
];

describe('queue keys', () => {
  // on a Cluster, a key outside the queue's slot would fail the scripts with CROSSSLOT
  const redisOrCluster = it.runIf(isRedisKind(ctx.kind));
  // KEYS reaches one node only on a Cluster
  const redisOnly = it.runIf(ctx.kind === 'redis');

  redisOrCluster.each(names)('all contain the hash tag {prefix:name} and share one slot, for name %j', async (name) => {
    const queue = open<string>(name, { useDead: true });
    await useEveryKey(queue);
    const keys = Object.keys(await ctx.snapshot());
    expect(keys.length).toBeGreaterThanOrEqual(12);
    const tag = `{${ctx.prefix}:${name}}`;
    for (const key of keys) expect(key.startsWith(tag)).toBe(true);
    expect(new Set(keys.map(hashTag))).toEqual(new Set([hashTag(tag)]));
    expect([...(await queue.peekData(10)).values()]).toEqual(['urgent', 'ready']);
    expect([...(await queue.dead.peekData(10)).values()]).toEqual(['dead-urgent', 'dead-2']);
  });

  it('refuse a name with `}`, which would end the hash tag early and let keys collide', () => {
    for (const name of ['a}', 'a}:dead', '}', '{a}']) {
      expect(() => open(name)).toThrow(RangeError);
    }
  });

  it('never collide between queues whose names look alike', async () => {
    const queues = names.map((name) => open<string>(name, { useDead: true }));
    const alike = ['a', 'a:dead:x', '{a', 'a:b', 'a:b:dead', 'a:ready', 'a:meta'].map((name) =>
      open<string>(name, { useDead: true }),
    );
    const all = [...queues, ...alike];
    for (const queue of all) {
      await queue.putData([`item of ${queue.name}`]);
      await queue.dead.putData([`dead of ${queue.name}`]);
    }
    for (const queue of all) {
      expect(await queue.stats()).toMatchObject({ ready: 1, dead: 1 });
      expect([...(await queue.peekData(10)).values()]).toEqual([`item of ${queue.name}`]);
      expect([...(await queue.dead.peekData(10)).values()]).toEqual([`dead of ${queue.name}`]);
    }
    const before = await ctx.snapshot();
    const [first] = alike as [DataQueue<string>];
    await first.clear();
    const after = await ctx.snapshot();
    const gone = Object.keys(before).filter((key) => !(key in after));
    expect(gone.length).toBeGreaterThan(0);
    for (const key of gone) expect(key).toMatch(new RegExp(`^\\{${ctx.prefix}:a\\}(:dead)?(:[a-z]+)?$`));
    for (const queue of all.filter((q) => q !== first)) {
      expect(await queue.stats()).toMatchObject({ ready: 1, dead: 1 });
      expect([...(await queue.peekData(10)).values()]).toEqual([`item of ${queue.name}`]);
    }
  });

  redisOnly('use the default prefix "visq" when none is given', async () => {
    const name = `${ctx.prefix}-default`;
    const queue = new DataQueue<string>(ctx.store, name);
    expect(queue.prefix).toBe('visq');
    await queue.putData(['x']);
    try {
      const keys = await ctx.redis.keys(`{visq:${name}}*`);
      expect(keys.length).toBeGreaterThan(0);
    } finally {
      await queue.clear();
      await queue.close();
    }
  });
});
