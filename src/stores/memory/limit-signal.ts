/**
 * The limit signal of a MemoryStore queue, as on Redis (scripts/lib/limits.lua): readers
 * a pause or the in-flight cap holds wait on a signal of their own, which pauses and
 * ended leases bump and puts leave alone. A cursor "l:<version>" names it.
 */
import type { LimitedBy } from '../../data/limits.js';
import type { ChangeSignals } from './signals.js';

/** The name the limit signal of the queue at `base` goes by among the store's signals. */
export function limitSignal(base: string): string {
  return `${base}\nlimits`;
}

/** The cursor of a read held back by `limited`: the rate limit's is unused (its reader sleeps). */
export function limitCursor(signals: ChangeSignals, base: string, limited: LimitedBy): string {
  return limited === 'rate' ? '' : `l:${signals.cursor(limitSignal(base))}`;
}

/** Waits on the signal a cursor names: the queue's, or its limit signal's. */
export function waitOnSignals(signals: ChangeSignals, base: string, cursor: string, timeoutMs: number, signal?: AbortSignal): Promise<void> {
  if (cursor.startsWith('l:')) return signals.wait(limitSignal(base), cursor.slice(2), timeoutMs, signal);
  return signals.wait(base, cursor, timeoutMs, signal);
}
