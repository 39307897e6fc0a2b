/**
 * bee-queue in the configuration its README recommends for speed: `storeJobs: false`,
 * `sendEvents: false`, `getEvents: false` (no pub/sub), `removeOnSuccess: true` and
 * `removeOnFailure: true` (results not kept), `saveAll` for batches; a worker queue with
 * `process(concurrency, fn)`. It uses its own client (node_redis 3), one connection per
 * queue object plus one blocking connection per worker. No batched read: it takes part
 * in the put, task and memory workloads.
 *
 * Task profiles (see TaskProfile):
 * - `defaults`: the above, with bee-queue's defaults: no retries, `stallInterval: 5000`
 *   (a worker marks each job it runs as alive when it starts it and every 2.5 s while it
 *   runs, always), and stalled jobs recovered only by the one check `process()` makes
 *   when the worker starts (bee-queue leaves the periodic check to the user).
 * - `at-least-once`, the equivalent of visq's `attempts: 3, visTimeout: 30`: every job
 *   `.retries(2)` (a run that fails is retried, 3 runs in all), `stallInterval: 30000`
 *   (a job whose worker goes silent for 30–60 s counts as stalled: visTimeout 30) and
 *   stalled-job recovery on, as its README prescribes: the worker calls
 *   `checkStalledJobs(30000)`, which re-queues stalled jobs and repeats every 30 s. One
 *   difference bee-queue offers no option for: a re-queued stalled job does not use a
 *   retry, so a job whose workers keep dying is run without bound, where visq stops at
 *   3 runs. Per job this profile costs what the defaults cost (the same alive marks and
 *   finishing `MULTI`; the job's options carry `retries`) plus a check every 30 s.
 */
import BeeQueue from 'bee-queue';
import type { Payload, ServerAddress, TaskArgs, TaskProfile } from '../protocol.js';
import { DATA_QUEUE, TASK_QUEUE, type DataClient, type SystemDriver, type TaskClient } from './types.js';

const QUIET = { getEvents: false, sendEvents: false, storeJobs: false } as const;
/** Per task profile: retries of each job (runs beyond the first) and the worker's stall settings. */
const TASK_RETRIES: Readonly<Record<TaskProfile, number>> = { defaults: 0, 'at-least-once': 2 };
const STALL_MS: Readonly<Record<TaskProfile, number | undefined>> = { defaults: undefined, 'at-least-once': 30_000 };

async function producer<T>(server: ServerAddress, name: string): Promise<BeeQueue<T>> {
  const queue = new BeeQueue<T>(name, { redis: { host: server.host, port: server.port }, isWorker: false, ...QUIET });
  await queue.ready();
  return queue;
}

async function save<T>(queue: BeeQueue<T>, items: readonly T[], retries = 0): Promise<void> {
  const job = (item: T): BeeQueue.Job<T> => (retries > 0 ? queue.createJob(item).retries(retries) : queue.createJob(item));
  if (items.length === 1) {
    await job(items[0] as T).save();
    return;
  }
  const errors = await queue.saveAll(items.map(job));
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

  async tasks(server, profile) {
    const queue = await producer<TaskArgs>(server, TASK_QUEUE);
    const workers: BeeQueue<TaskArgs>[] = [];
    const stallMs = STALL_MS[profile];
    const client: TaskClient = {
      push: (argsList) => save(queue, argsList, TASK_RETRIES[profile]),
      async worker(concurrency, hooks) {
        const worker = new BeeQueue<TaskArgs>(TASK_QUEUE, {
          redis: { host: server.host, port: server.port },
          isWorker: true,
          removeOnSuccess: true,
          removeOnFailure: true,
          ...(stallMs === undefined ? {} : { stallInterval: stallMs }),
          ...QUIET,
        });
        workers.push(worker);
        worker.on('succeeded', () => hooks.finished());
        worker.on('failed', (_job, error) => hooks.failed(error));
        worker.on('error', (error) => hooks.failed(error));
        await worker.ready();
        return {
          start() {
            if (stallMs !== undefined) void worker.checkStalledJobs(stallMs).catch(hooks.failed);
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
