/** A comparable dump of every key whose name contains a marker, for "nothing changed" checks. */
import { Cluster, type Redis } from 'ioredis';
import { readyMasters } from './cluster.js';

async function valueOf(redis: Redis | Cluster, key: string): Promise<unknown> {
  const type = await redis.type(key);
  switch (type) {
    case 'string':
      return { type, value: await redis.get(key) };
    case 'list':
      return { type, value: await redis.lrange(key, 0, -1) };
    case 'hash':
      return { type, value: await redis.hgetall(key) };
    case 'zset':
      return { type, value: await redis.zrange(key, 0, -1, 'WITHSCORES') };
    case 'set':
      return { type, value: (await redis.smembers(key)).sort() };
    case 'stream':
      return { type, value: await redis.xrange(key, '-', '+') };
    default:
      return { type };
  }
}

/**
 * Every key containing `marker` (e.g. the hash tag prefix `{t1-x:`) with its content. On
 * a Cluster every master is scanned: the queues of one test hash to different slots.
 */
export async function snapshotRedis(redis: Redis | Cluster, marker: string): Promise<Record<string, unknown>> {
  const pattern = `*${marker.replace(/[*?[\]\\]/g, '\\$&')}*`;
  const keys: string[] = [];
  for (const node of redis instanceof Cluster ? await readyMasters(redis) : [redis]) {
    let cursor = '0';
    do {
      const [next, batch] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      keys.push(...batch);
    } while (cursor !== '0');
  }
  const snapshot: Record<string, unknown> = {};
  for (const key of keys.sort()) snapshot[key] = await valueOf(redis, key);
  return snapshot;
}
