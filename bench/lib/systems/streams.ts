/**
 * The baseline: a raw Redis Streams consumer group written with ioredis, as a careful
 * user would. Put: XADD, several pipelined into one round trip. Read: XREADGROUP COUNT n
 * (the pending-entries list is Streams' lease); finish: XACK + XDEL pipelined into one
 * round trip, XDEL so that the stream does not grow (the baseline of visq's cost budget). Entries carry
 * the JSON payload in one field and are parsed on read, as visq parses its items.
 */
import { Redis } from 'ioredis';
import type { Payload, ServerAddress } from '../protocol.js';
import { DATA_QUEUE, type Batch, type DataClient, type SystemDriver } from './types.js';

const GROUP = 'g';
const FIELD = 'd';

/** XREADGROUP's reply: per stream, its entries as [id, [field, value, ...]]. */
type ReadReply = [stream: string, entries: [id: string, fields: string[]][]][] | null;

async function ensureGroup(redis: Redis): Promise<void> {
  try {
    await redis.xgroup('CREATE', DATA_QUEUE, GROUP, '0', 'MKSTREAM');
  } catch (error) {
    // another agent created it first
    if (!(error instanceof Error && error.message.startsWith('BUSYGROUP'))) throw error;
  }
}

export const streams: SystemDriver = {
  async data(server: ServerAddress, consumer: number) {
    const redis = new Redis({ host: server.host, port: server.port });
    await ensureGroup(redis);
    const name = `c${consumer}`;
    const client: DataClient = {
      async put(items) {
        if (items.length === 1) {
          await redis.xadd(DATA_QUEUE, '*', FIELD, JSON.stringify(items[0]));
          return;
        }
        const pipeline = redis.pipeline();
        for (const item of items) pipeline.xadd(DATA_QUEUE, '*', FIELD, JSON.stringify(item));
        await pipeline.exec();
      },
      async get(count, blockMs = 0): Promise<Batch> {
        const reply = (
          blockMs > 0
            ? await redis.xreadgroup('GROUP', GROUP, name, 'COUNT', count, 'BLOCK', blockMs, 'STREAMS', DATA_QUEUE, '>')
            : await redis.xreadgroup('GROUP', GROUP, name, 'COUNT', count, 'STREAMS', DATA_QUEUE, '>')
        ) as ReadReply;
        const entries = reply?.[0]?.[1] ?? [];
        const ids = entries.map(([id]) => id);
        const items = entries.map(([, fields]) => JSON.parse(fields[1] ?? 'null') as Payload);
        return {
          items,
          async ack() {
            if (ids.length === 0) return;
            const results = await redis.pipeline().xack(DATA_QUEUE, GROUP, ...ids).xdel(DATA_QUEUE, ...ids).exec();
            const acked = results?.[0]?.[1];
            if (acked !== ids.length) throw new Error(`streams: XACK acknowledged ${String(acked)} of ${ids.length}`);
          },
        };
      },
      async close() {
        await redis.quit();
      },
    };
    return client;
  },
};
