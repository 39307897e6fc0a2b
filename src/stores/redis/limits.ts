/**
 * Where a blocked reader of a Redis queue waits (see scripts/lib/limits.lua): on the
 * queue's signal stream, which every put appends to, or, for a reader held back by a
 * pause or the in-flight cap, on the limit signal (the dead-letter queue's signal
 * stream), which puts leave alone so that they do not wake a reader they cannot help.
 * A cursor "l:<id>" names the limit signal.
 */
import { deadBase } from '../../data/keys.js';
import { queueKey } from './keys.js';

/** The stream and the id a blocking XREAD from `cursor` uses, for the queue at `base`. */
export function signalStream(base: string, cursor: string): { key: string; id: string } {
  if (cursor.startsWith('l:')) return { key: queueKey(deadBase(base), 'signal'), id: cursor.slice(2) };
  return { key: queueKey(base, 'signal'), id: cursor };
}
