/**
 * Helpers for tests of blocking reads: how many scripts Redis ran (a reader that polls
 * would raise it while it waits) and waiting until a number of reads are blocked.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { StoreContext } from './context.js';

/** Script calls the file's Redis has run so far (Redis only). */
export async function scriptCalls(ctx: StoreContext): Promise<number> {
  const text = await ctx.redis.info('commandstats');
  return Number(/^cmdstat_evalsha:calls=(\d+)/m.exec(text)?.[1] ?? 0);
}

/** Resolves once exactly `n` reads are blocked in the store: the waiters are really waiting. */
export async function untilBlocked(ctx: StoreContext, n: number): Promise<void> {
  while ((await ctx.blockedWaits()) !== n) await sleep(5);
}
