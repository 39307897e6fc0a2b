/**
 * The object stats() returns. The original contract names four counts, `{ ready, delayed,
 * inflight, dead }`: those are its own enumerable properties, so it compares equal to
 * that shape. The running totals and the head age are there too, typed, but not
 * enumerable; JSON.stringify (toJSON) and util.inspect show everything.
 */
import { inspect } from 'node:util';
import type { RawStats } from './backend.js';
import type { QueueStats } from './options.js';

/** Every field of a stats() result, as a plain object (a spread would drop the totals). */
export function statsRecord(stats: QueueStats): Record<keyof QueueStats, number> {
  const { ready, delayed, inflight, dead, expired, dropped, puts, deliveries, dones, expiries, deadLettered, emptyReads, headAge } =
    stats;
  return { ready, delayed, inflight, dead, expired, dropped, puts, deliveries, dones, expiries, deadLettered, emptyReads, headAge };
}

/** The stats() object of a store's raw counts. */
export function queueStats(raw: RawStats): QueueStats {
  const counts = { ready: raw.ready, delayed: raw.delayed, inflight: raw.inflight, dead: raw.dead };
  const totals = {
    expired: raw.expired,
    dropped: raw.dropped,
    puts: raw.puts,
    deliveries: raw.deliveries,
    dones: raw.dones,
    expiries: raw.expiries,
    deadLettered: raw.deadLettered,
    emptyReads: raw.emptyReads,
    headAge: raw.headAgeMs < 0 ? 0 : raw.headAgeMs / 1000,
  };
  const all: QueueStats = { ...counts, ...totals };
  const stats = { ...counts } as QueueStats;
  for (const [key, value] of Object.entries(totals)) {
    Object.defineProperty(stats, key, { value, enumerable: false });
  }
  Object.defineProperty(stats, 'toJSON', { value: () => all, enumerable: false });
  Object.defineProperty(stats, inspect.custom, { value: () => all, enumerable: false });
  return stats;
}
