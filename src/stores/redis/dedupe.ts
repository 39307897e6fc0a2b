/**
 * The Redis side of deduplicated puts: the arguments of put_dedupe.lua and
 * tasks/enqueue.lua's dedupe, and their replies (see scripts/lib/dedupe.lua).
 */
import type { PutRequest } from '../../data/backend.js';
import type { DedupeRequest, DedupeUntil, PutResult, RawDedupeHolder } from '../../data/dedupe.js';
import { CorruptRecordError } from '../../errors.js';

/** The mode letter the scripts store. */
export function modeLetter(until: DedupeUntil): 'w' | 'd' {
  return until === 'done' ? 'd' : 'w';
}

/** put_dedupe.lua's ARGV after the clock. */
export function putDedupeArgs(request: PutRequest, dedupe: DedupeRequest): (string | number)[] {
  const { delayMs, priority, ttlMs, payloads, metas = [] } = request;
  return [delayMs, priority, ttlMs, modeLetter(dedupe.until), dedupe.windowMs, metas.length, ...metas, ...dedupe.keys, ...payloads];
}

/** The reply { ids, flags } of put_dedupe.lua (and of a deduplicated task enqueue). */
export function putDedupeResult(reply: unknown): PutResult[] {
  const [ids, flags] = reply as [string[], string];
  if (!Array.isArray(ids) || typeof flags !== 'string' || flags.length !== ids.length) {
    throw new CorruptRecordError('put_dedupe returned an unexpected reply');
  }
  return ids.map((id, i) => ({ id, duplicate: flags[i] === '1' }));
}

/** The reply of dedupe.lua 'get'. */
export function holderOf(reply: unknown): RawDedupeHolder | undefined {
  if (reply === null || reply === undefined) return undefined;
  const [id, expiresAt, mode] = reply as [string, string, string];
  return { id, expiresAtMs: Number(expiresAt), until: mode === 'd' ? 'done' : 'window' };
}
