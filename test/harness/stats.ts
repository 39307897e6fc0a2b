/**
 * Every field of a stats() result as a plain object. stats() keeps only the contract's
 * four counts enumerable (src/data/stats.ts), so toEqual on the object itself compares
 * just those; tests that mean to compare the running totals too go through this.
 */
import type { QueueStats } from '../../src/index.js';

export function fullStats(stats: QueueStats): Record<keyof QueueStats, number> {
  const { ready, delayed, inflight, dead, expired, dropped, puts, deliveries, dones, expiries, deadLettered, emptyReads, headAge } =
    stats;
  return { ready, delayed, inflight, dead, expired, dropped, puts, deliveries, dones, expiries, deadLettered, emptyReads, headAge };
}
