/** What the commands that read queues share: where Redis is, the prefix, the queue handle. */
import type { Redis } from 'ioredis';
import { DataQueue } from '../../data/queue.js';
import { prefixArg } from '../args.js';
import { redisUrl, withRedis } from '../connect.js';
import type { Output } from '../output.js';

/** A command's entry: its arguments after the command name; resolves to the exit code. */
export type Command = (args: readonly string[], io: Output) => Promise<number>;

/** The Redis and prefix a command works on, from `--redis-url` / `REDIS_URL` and `--prefix`. */
export interface StoreTarget {
  readonly url: string;
  readonly prefix: string;
}

export function storeTarget(values: { 'redis-url'?: string | undefined; prefix?: string | undefined }): StoreTarget {
  return { url: redisUrl(values['redis-url']), prefix: prefixArg(values.prefix) };
}

/** Opens `queue` under the target's prefix, runs `use`, then closes the queue and the connection. */
export function withQueue<R>(target: StoreTarget, queue: string, use: (dq: DataQueue, redis: Redis) => Promise<R>): Promise<R> {
  return withRedis(target.url, async (redis) => {
    const dq = new DataQueue(redis, queue, { prefix: target.prefix });
    try {
      return await use(dq, redis);
    } finally {
      await dq.close();
    }
  });
}
