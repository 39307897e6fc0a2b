/**
 * BullMQ in its usual fast configuration: jobs removed on completion and on failure
 * (`removeOnComplete: true`, `removeOnFail: true`), `addBulk` for batches, one Worker
 * with `concurrency`; everything else default (events stream, lock renewal, stalled
 * checks). BullMQ has no batched read, so it takes part in the put, task and memory
 * workloads but not in data get+done.
 */
import { Redis } from 'ioredis';
import { Queue, Worker } from 'bullmq';
import type { Payload, ServerAddress, TaskArgs } from '../protocol.js';
import { DATA_QUEUE, TASK_QUEUE, type DataClient, type SystemDriver, type TaskClient } from './types.js';

const JOB_OPTIONS = { removeOnComplete: true, removeOnFail: true } as const;

function connect(server: ServerAddress): Redis {
  // BullMQ requires maxRetriesPerRequest: null on the connections its workers block on
  return new Redis({ host: server.host, port: server.port, maxRetriesPerRequest: null });
}

export const bullmq: SystemDriver = {
  async data(server) {
    const connection = connect(server);
    const queue = new Queue<Payload>(DATA_QUEUE, { connection, defaultJobOptions: JOB_OPTIONS });
    await queue.waitUntilReady();
    const client: DataClient = {
      async put(items) {
        if (items.length === 1) await queue.add('item', items[0] as Payload);
        else await queue.addBulk(items.map((data) => ({ name: 'item', data })));
      },
      async close() {
        await queue.close();
        await connection.quit();
      },
    };
    return client;
  },

  async tasks(server) {
    const connection = connect(server);
    const queue = new Queue<TaskArgs>(TASK_QUEUE, { connection, defaultJobOptions: JOB_OPTIONS });
    await queue.waitUntilReady();
    const workerConnections: Redis[] = [];
    const client: TaskClient = {
      async push(argsList) {
        if (argsList.length === 1) await queue.add('add', argsList[0] as TaskArgs);
        else await queue.addBulk(argsList.map((data) => ({ name: 'add', data })));
      },
      async worker(concurrency, hooks) {
        const workerConnection = connect(server);
        workerConnections.push(workerConnection);
        const worker = new Worker<TaskArgs, number>(
          TASK_QUEUE,
          async (job) => {
            hooks.started?.(job.data);
            return job.data.a + job.data.b;
          },
          { connection: workerConnection, concurrency, autorun: false },
        );
        worker.on('completed', () => hooks.finished());
        worker.on('failed', (_job, error) => hooks.failed(error));
        worker.on('error', (error) => hooks.failed(error));
        await worker.waitUntilReady();
        return {
          start() {
            void worker.run().catch((error: unknown) => hooks.failed(error instanceof Error ? error : new Error(String(error))));
          },
          async close() {
            await worker.close();
          },
        };
      },
      async close() {
        await queue.close();
        await Promise.all([connection, ...workerConnections].map((c) => c.quit()));
      },
    };
    return client;
  },
};
