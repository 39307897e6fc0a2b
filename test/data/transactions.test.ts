/**
 * The `db` option (the caller's database transaction) on stores that cannot join one:
 * Redis and the MemoryStore refuse it with a TypeError naming the option, before anything
 * is written. On PostgreSQL it works: test/stores/postgres/transactions.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { VisqTypeError, type SqlClient } from '../../src/index.js';
import { useStore } from '../harness/context.js';
import { useQueues } from '../harness/queues.js';

const ctx = useStore();
const open = useQueues(ctx);

/** A client that would run anything it is given: it must never be called. */
function client(calls: string[]): SqlClient {
  return {
    query: async (text) => {
      calls.push(text);
      return { rows: [] };
    },
  };
}

describe.runIf(ctx.kind !== 'postgres')('the db option on a store without transactions', () => {
  it('makes putData throw a TypeError naming opts.db, and writes nothing', async () => {
    const queue = open<string>();
    const calls: string[] = [];
    const before = await ctx.snapshot();
    const error = await queue.putData(['x'], { db: client(calls) }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(VisqTypeError);
    expect((error as Error).message).toMatch(/^Option `opts\.db` needs a store that can join a database transaction/);
    expect(await ctx.snapshot()).toEqual(before);
    expect(calls).toEqual([]);
  });

  it('makes doneData throw a TypeError naming opts.db, and finishes nothing', async () => {
    const queue = open<string>('q', { visTimeout: 30 });
    await queue.putData(['x']);
    const leases = await queue.getData(1);
    const calls: string[] = [];
    const before = await ctx.snapshot();
    await expect(queue.doneData(leases, { db: client(calls) })).rejects.toThrow(/`opts\.db`/);
    expect(await ctx.snapshot()).toEqual(before);
    expect(calls).toEqual([]);
    expect(await queue.doneData(leases)).toBe(1);
  });
});
