/**
 * bee-queue in the configuration its README recommends for speed: `storeJobs: false`,
 * `sendEvents: false`, `getEvents: false` (no pub/sub), `removeOnSuccess: true`,
 * `saveAll` for batches; a worker queue with `process(concurrency, fn)`. It uses its own
 * client (node_redis 3), one connection per queue object plus one blocking connection per
 * worker. No batched read: it takes part in the put, task and memory workloads.
 */
import BeeQueue from 'bee-queue';
import type { Payload, ServerAddress, TaskArgs } from '../protocol.js';
import { DATA_QUEUE, TASK_QUEUE, type DataClient, type SystemDriver, type TaskClient } from './types.js';

const QUIET = { getEvents: false, sendEvents: false, storeJobs: false } as const;

async function producer<T>(server: ServerAddress, name: string): Promise<BeeQueue<T>> {
  const queue = new BeeQueue<T>(name, { redis: { host: server.host, port: server.port }, isWorker: false, ...QUIET });
  await queue.ready();
  return queue;
}

async function save<T>(queue: BeeQueue<T>, items: readonly T[]): Promise<void> {
  if (items.length === 1) {
    await queue.createJob(items[0] as T).save();
    return;
  }
  const errors = await queue.saveAll(items.map((item) => queue.createJob(item)));
  if (errors.size > 0) throw new Error(`bee-queue: saveAll failed for ${errors.size} jobs`);
}

export const beeQueue: SystemDriver = {
  async data(server) {
    const queue = await producer<Payload>(server, DATA_QUEUE);
    const client: DataClient = {
      put: (items) => save(queue, items),
      async close() {
        await queue.close();
      },
    };
    return client;
  },

  async tasks(server) {
    const queue = await producer<TaskArgs>(server, TASK_QUEUE);
    const workers: BeeQueue<TaskArgs>[] = [];
    const client: TaskClient = {
      push: (argsList) => save(queue, argsList),
      async worker(concurrency, hooks) {
        const worker = new BeeQueue<TaskArgs>(TASK_QUEUE, {
          redis: { host: server.host, port: server.port },
          isWorker: true,
          removeOnSuccess: true,
          removeOnFailure: true,
          ...QUIET,
        });
        workers.push(worker);
        worker.on('succeeded', () => hooks.finished());
        worker.on('failed', (_job, error) => hooks.failed(error));
        worker.on('error', (error) => hooks.failed(error));
        await worker.ready();
        return {
          start() {
            worker.process(concurrency, async (job: BeeQueue.Job<TaskArgs>) => {
              hooks.started?.(job.data);
              return job.data.a + job.data.b;
            });
          },
          async close() {
            workers.splice(workers.indexOf(worker), 1);
            await worker.close();
          },
        };
      },
      async close() {
        await Promise.all([queue, ...workers].map((q) => q.close()));
      },
    };
    return client;
  },
};
