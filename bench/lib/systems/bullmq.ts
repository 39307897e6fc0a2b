/**
 * BullMQ in its usual fast configuration: jobs removed on completion and on failure
 * (`removeOnComplete: true`, `removeOnFail: true`: results not kept), `addBulk` for
 * batches, one Worker with `concurrency`; everything else default (events stream, lock
 * renewal, stalled checks). BullMQ has no batched read, so it takes part in the put,
 * task and memory workloads but not in data get+done.
 *
 * Task profiles (see TaskProfile):
 * - `defaults`: the above; BullMQ's defaults already hold a job under a 30 s lock that
 *   the worker renews (`lockDuration: 30000`) and recover a job whose worker died once
 *   (`maxStalledCount: 1`, checked every `stalledInterval: 30000` ms); `attempts: 1`.
 * - `at-least-once`, the equivalent of visq's `attempts: 3, visTimeout: 30`: job option
 *   `attempts: 3` (a run that throws is retried, 3 runs in all), and on the worker the
 *   30 s lock and stalled check stated explicitly, `maxStalledCount: 2` (a job whose
 *   worker dies is run again, twice at most) and `maxStartedAttempts: 3` (a job that
 *   has started 3 times is never run a 4th time, whatever mix of failures and stalls:
 *   visq's attempts count every delivery the same way). The lock and stall machinery is
 *   the same as at the defaults, so this profile costs BullMQ no extra Redis work per job
 *   unless a job fails or stalls.
 */
import { Redis } from 'ioredis';
import { Queue, Worker, type JobsOptions, type WorkerOptions } from 'bullmq';
import type { Payload, ServerAddress, TaskArgs, TaskProfile } from '../protocol.js';
import { DATA_QUEUE, TASK_QUEUE, type DataClient, type SystemDriver, type TaskClient } from './types.js';

const JOB_OPTIONS = { removeOnComplete: true, removeOnFail: true } as const;
/** Per task profile: the jobs' options and the worker's. */
const TASK_JOB_OPTIONS: Readonly<Record<TaskProfile, JobsOptions>> = {
  defaults: JOB_OPTIONS,
  'at-least-once': { ...JOB_OPTIONS, attempts: 3 },
};
const TASK_WORKER_OPTIONS: Readonly<Record<TaskProfile, Omit<WorkerOptions, 'connection'>>> = {
  defaults: {},
  'at-least-once': { lockDuration: 30_000, stalledInterval: 30_000, maxStalledCount: 2, maxStartedAttempts: 3 },
};

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

  async tasks(server, profile) {
    const connection = connect(server);
    const queue = new Queue<TaskArgs>(TASK_QUEUE, { connection, defaultJobOptions: TASK_JOB_OPTIONS[profile] });
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
          { ...TASK_WORKER_OPTIONS[profile], connection: workerConnection, concurrency, autorun: false },
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
