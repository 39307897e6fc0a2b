/**
 * Finds one item of a Redis queue by id. There is no index by id (it would cost a write
 * per item on the hot path), so this scans each structure with SCAN-family commands and
 * LRANGE pages: it never blocks Redis, but it is not atomic (an item moving during the
 * scan can be missed) and costs O(queue size). Meant for `visq inspect`, not for code paths.
 */
import type { RedisConnection } from './scripts/loader.js';
import type { RawItemInfo } from '../../data/backend.js';
import { parseRecord } from './record.js';
import { queueKey } from './keys.js';
import { parseLease } from '../../data/lease.js';

const PAGE = 1000;

function globEscape(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}

function info(record: string, state: RawItemInfo['state'], extra: Partial<RawItemInfo> = {}): RawItemInfo {
  const { id, deliveries, priority, payload } = parseRecord(record);
  return { id, state, payload, priority, failedDeliveries: deliveries, ...extra };
}

async function scanZset(redis: RedisConnection, key: string, match: string): Promise<[string, number] | undefined> {
  let cursor = '0';
  do {
    const [next, found] = await redis.zscan(key, cursor, 'MATCH', match, 'COUNT', PAGE);
    if (found.length >= 2) return [found[0] as string, Number(found[1])];
    cursor = next;
  } while (cursor !== '0');
  return undefined;
}

export async function inspectRedis(redis: RedisConnection, base: string, id: string): Promise<RawItemInfo | undefined> {
  const recordMatch = `*|${globEscape(id)}|*`;

  let cursor = '0';
  do {
    const [next, found] = await redis.hscan(queueKey(base, 'inflight'), cursor, 'MATCH', `${globEscape(id)}:*`, 'COUNT', PAGE);
    for (let i = 0; i + 1 < found.length; i += 2) {
      const lease = found[i] as string;
      const parts = parseLease(lease);
      if (parts?.id !== id) continue;
      const owner = (await redis.hget(queueKey(base, 'owners'), lease)) ?? parts.entry;
      const deadline = await redis.zscore(queueKey(base, 'leases'), owner);
      return info(found[i + 1] as string, 'inflight', {
        lease,
        ...(deadline === null ? {} : { until: Number(deadline) }),
      });
    }
    cursor = next;
  } while (cursor !== '0');

  const delayed = await scanZset(redis, queueKey(base, 'delayed'), recordMatch);
  if (delayed && parseRecord(delayed[0]).id === id) return info(delayed[0], 'delayed', { until: delayed[1] });

  const sorted = await scanZset(redis, queueKey(base, 'sorted'), recordMatch);
  if (sorted && parseRecord(sorted[0]).id === id) return info(sorted[0], 'ready');

  const ready = queueKey(base, 'ready');
  const marker = `|${id}|`;
  for (let start = 0; ; start += PAGE) {
    const page = await redis.lrange(ready, start, start + PAGE - 1);
    const record = page.find((r) => r.includes(marker) && parseRecord(r).id === id);
    if (record) return info(record, 'ready');
    if (page.length < PAGE) return undefined;
  }
}
