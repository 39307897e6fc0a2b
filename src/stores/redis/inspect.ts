/**
 * Finds one item of a Redis queue by id. There is no index by id (it would cost a write
 * per item on the hot path), so this scans each structure with SCAN-family commands and
 * LRANGE pages: it never blocks Redis, but it is not atomic (an item moving during the
 * scan can be missed) and costs O(queue size). Meant for `visq inspect`, not for code paths.
 */
import type { RedisConnection } from './scripts/loader.js';
import type { RawItemInfo } from '../../data/backend.js';
import { parseRecord, type StoredRecord } from './record.js';
import { queueKey } from './keys.js';
import { parseLease } from '../../data/lease.js';

const PAGE = 1000;

function globEscape(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}

/** What the scans look for: server-side MATCH patterns, a cheap text filter, the test. */
interface RecordScan {
  /** HSCAN MATCH on the in-flight hash, whose fields are leases "<id>:<entry>". */
  readonly leaseMatch: string;
  /** ZSCAN MATCH on the delayed and priority sets, whose members are records. */
  readonly recordMatch: string;
  /** Text every wanted record contains, to skip the others without parsing them. */
  readonly marker: string;
  readonly test: (record: StoredRecord) => boolean;
}

function recordScan(id: string): RecordScan {
  return {
    leaseMatch: `${globEscape(id)}:*`,
    recordMatch: `*|${globEscape(id)}|*`,
    marker: `|${id}|`,
    // a MATCH on the text can take a record whose payload merely contains "|<id>|"
    test: (record) => record.id === id,
  };
}

function info(record: StoredRecord, state: RawItemInfo['state'], extra: Partial<RawItemInfo> = {}): RawItemInfo {
  const { id, deliveries, priority, payload } = record;
  return { id, state, payload, priority, failedDeliveries: deliveries, ...extra };
}

/** The first record of the sorted set `key` that the scan takes, with its score. */
async function scanZset(redis: RedisConnection, key: string, scan: RecordScan): Promise<[StoredRecord, number] | undefined> {
  let cursor = '0';
  do {
    const [next, found] = await redis.zscan(key, cursor, 'MATCH', scan.recordMatch, 'COUNT', PAGE);
    for (let i = 0; i + 1 < found.length; i += 2) {
      const record = parseRecord(found[i] as string);
      if (scan.test(record)) return [record, Number(found[i + 1])];
    }
    cursor = next;
  } while (cursor !== '0');
  return undefined;
}

/** Finds the item `id` in a Redis queue: in flight, then delayed, then ready. */
export async function inspectRedis(redis: RedisConnection, base: string, id: string): Promise<RawItemInfo | undefined> {
  const scan = recordScan(id);

  let cursor = '0';
  do {
    const [next, found] = await redis.hscan(queueKey(base, 'inflight'), cursor, 'MATCH', scan.leaseMatch, 'COUNT', PAGE);
    for (let i = 0; i + 1 < found.length; i += 2) {
      const lease = found[i] as string;
      const raw = found[i + 1] as string;
      if (!raw.includes(scan.marker)) continue;
      const record = parseRecord(raw);
      const parts = parseLease(lease);
      if (parts?.id !== record.id || !scan.test(record)) continue;
      const owner = (await redis.hget(queueKey(base, 'owners'), lease)) ?? parts.entry;
      const deadline = await redis.zscore(queueKey(base, 'leases'), owner);
      return info(record, 'inflight', { lease, ...(deadline === null ? {} : { until: Number(deadline) }) });
    }
    cursor = next;
  } while (cursor !== '0');

  const delayed = await scanZset(redis, queueKey(base, 'delayed'), scan);
  if (delayed) return info(delayed[0], 'delayed', { until: delayed[1] });

  const sorted = await scanZset(redis, queueKey(base, 'sorted'), scan);
  if (sorted) return info(sorted[0], 'ready');

  const ready = queueKey(base, 'ready');
  for (let start = 0; ; start += PAGE) {
    const page = await redis.lrange(ready, start, start + PAGE - 1);
    for (const raw of page) {
      if (!raw.includes(scan.marker)) continue;
      const record = parseRecord(raw);
      if (scan.test(record)) return info(record, 'ready');
    }
    if (page.length < PAGE) break;
  }

  // items of ordered groups waiting for their turn: members "<group>\0<record>" (lib/groups.lua)
  let groupCursor = '0';
  do {
    const [next, found] = await redis.zscan(`${base}:group-items`, groupCursor, 'MATCH', scan.recordMatch, 'COUNT', PAGE);
    for (let i = 0; i + 1 < found.length; i += 2) {
      const member = found[i] as string;
      const record = parseRecord(member.slice(member.indexOf('\0') + 1));
      if (scan.test(record)) return info(record, 'ready');
    }
    groupCursor = next;
  } while (groupCursor !== '0');
  return undefined;
}
