/**
 * `execute(args, { db })` (the caller's database transaction) on stores that cannot join
 * one: Redis and the MemoryStore refuse it with a TypeError naming the option, before
 * anything is written, as DataQueue.putData does. On PostgreSQL it works:
 * test/stores/postgres/tasks.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { VisqTypeError, type SqlClient } from '../../src/index.js';
import { useStore } from '../harness/context.js';
import { useTaskApps } from './helpers.js';

const ctx = useStore();
const t = useTaskApps(ctx);

/** A client that would run anything it is given: it must never be called. */
function client(calls: string[]): SqlClient {
  return {
    query: async (text) => {
      calls.push(text);
      return { rows: [] };
    },
  };
}

describe.runIf(ctx.kind !== 'postgres')('the db option of execute on a store without transactions', () => {
  it.each(['execute', 'executeMany'] as const)('makes %s throw a TypeError naming opts.db, and writes nothing', async (method) => {
    const app = t.app();
    const mail = app.task('mail', (to: string) => to);
    const calls: string[] = [];
    const before = await ctx.snapshot();
    const db = client(calls);
    const error = await (method === 'execute' ? mail.execute(['a'], { db }) : mail.executeMany([['a'], ['b']], { db })).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(VisqTypeError);
    expect((error as Error).message).toMatch(/^Option `opts\.db` needs a store that can join a database transaction/);
    expect(await ctx.snapshot()).toEqual(before);
    expect(await app.queue().stats()).toMatchObject({ ready: 0 });
    expect(calls).toEqual([]);
  });

  it('takes only an object with a query method as db', async () => {
    const app = t.app();
    const mail = app.task('mail', (to: string) => to);
    await expect(mail.execute(['a'], { db: 'BEGIN' as never })).rejects.toThrow(/Expected `opts\.db` to be a database client/);
  });
});
