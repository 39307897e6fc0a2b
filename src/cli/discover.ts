/**
 * Which queues exist under a prefix. For now a SCAN over the queues' meta keys, written
 * by the first put of every queue; kept in this one function so that a registry of queue
 * names can replace the scan without touching the commands.
 */
import type { Redis } from 'ioredis';

const SCAN_PAGE = 1000;
const META_SUFFIX = '}:meta';

/** Escapes the characters SCAN MATCH treats as a pattern. */
function globEscape(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}

/**
 * Names of the queues under `prefix` that hold or held items, sorted. Dead-letter queues
 * belong to their queue and are not listed: their meta key, `{prefix:name}:dead:meta`,
 * does not end in `}:meta`, so the pattern already leaves them out. SCAN never blocks
 * Redis, but a queue created during the scan may be missed.
 */
export async function discoverQueues(redis: Redis, prefix: string): Promise<string[]> {
  const head = `{${prefix}:`;
  const names = new Set<string>();
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${globEscape(head)}*${META_SUFFIX}`, 'COUNT', SCAN_PAGE);
    // SCAN may return a key more than once; the set keeps one
    for (const key of keys) names.add(key.slice(head.length, -META_SUFFIX.length));
    cursor = next;
  } while (cursor !== '0');
  return [...names].sort();
}
