/**
 * The format of the stored layout (src/stores/redis/format.ts): a queue records it at
 * its first put, and a visq of another format refuses the queue, changing nothing.
 */
import { describe, expect, it } from 'vitest';
import { DataQueue, IncompatibleFormatError, Visq } from '../../../src/index.js';
import { REDIS_FORMAT } from '../../../src/stores/redis/format.js';
import { useStore } from '../../harness/context.js';
import { selectedKind } from '../../harness/store-kind.js';

const ctx = useStore();

async function refusal(call: () => Promise<unknown>): Promise<unknown> {
  try {
    await call();
  } catch (error) {
    return error;
  }
  throw new Error('the call was not refused');
}

describe.runIf(selectedKind() === 'redis' || selectedKind() === 'cluster')('the stored format', () => {
  const metaKey = (queue: string): string => `{${ctx.prefix}:${queue}}:meta`;

  it('is recorded by the put that creates a queue, and by the dead letter that creates its dead-letter queue', async () => {
    const queue = new DataQueue(ctx.store, 'q', { prefix: ctx.prefix, visTimeout: 30, attempts: 1, useDead: true });
    await queue.putData([{ a: 1 }]);
    expect(await ctx.redis.hget(metaKey('q'), 'v')).toBe(String(REDIS_FORMAT));
    const [lease] = (await queue.getData(1, { visTimeout: 1 })).keys();
    expect(lease).toBeDefined();
    ctx.advance(2);
    expect(await queue.getData(1)).toHaveProperty('size', 0);
    expect(await ctx.redis.hget(`{${ctx.prefix}:q}:dead:meta`, 'v')).toBe(String(REDIS_FORMAT));
    await queue.close();
  });

  for (const [what, stored] of [
    ['another format', '999'],
    ['no format (a layout older than format versions)', undefined],
  ] as const) {
    it(`refuses a queue of ${what} on puts, reads, redrive and tasks, changing nothing`, async () => {
      const queue = new DataQueue(ctx.store, 'q', { prefix: ctx.prefix, visTimeout: 30 });
      await queue.putData([{ a: 1 }, { a: 2 }]);
      if (stored === undefined) await ctx.redis.hdel(metaKey('q'), 'v');
      else await ctx.redis.hset(metaKey('q'), 'v', stored);
      const before = await ctx.snapshot();

      const app = new Visq({ store: ctx.store, prefix: ctx.prefix });
      const job = app.task('job', () => 1, { queue: 'q' });
      for (const call of [
        () => queue.putData([{ a: 3 }]),
        () => queue.getData(10),
        () => queue.redrive(),
        () => job.execute([]),
      ]) {
        const error = await refusal(call);
        expect(error).toBeInstanceOf(IncompatibleFormatError);
        expect(error).toMatchObject({ code: 'ERR_VISQ_FORMAT', found: stored ?? 'none', expected: REDIS_FORMAT });
        expect((error as Error).message).toContain(`reads format ${REDIS_FORMAT} only`);
      }
      expect(await ctx.snapshot()).toEqual(before);
      await app.close();
      await queue.close();
    });
  }
});
