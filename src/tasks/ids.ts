/**
 * Task ids: 128 random bits as 22 characters of base64url. A task's id is also its queue
 * item's id and the key of its record, so its length is memory: a UUID's 36 characters
 * cost a queued task about 30 bytes more in Redis for 6 bits more.
 */
import { randomFillSync } from 'node:crypto';

/** Random bytes drawn at once, 16 per id: one call to the system's generator per 256 ids. */
const POOL_BYTES = 4096;
const pool = Buffer.alloc(POOL_BYTES);
let used = POOL_BYTES;

/** A new random id: 22 characters from A–Z, a–z, 0–9, `-` and `_`. */
export function newId(): string {
  if (used + 16 > POOL_BYTES) {
    randomFillSync(pool);
    used = 0;
  }
  const id = pool.toString('base64url', used, used + 16);
  used += 16;
  return id;
}
