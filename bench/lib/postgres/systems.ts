/**
 * The systems of the `postgres` workload, each on the private PostgreSQL's database
 * (ServerAddress.postgres), each in its usual fast configuration:
 *
 * - **visq-postgres**: visq (built, dist/) on a PostgresStore: a DataQueue with a 30 s
 *   visibility timeout (putData, getData(n), doneData of the read's leases); tasks: the
 *   `add` task with its defaults and a worker with prefetch max(100, concurrency).
 * - **pg-boss** (10.x, the last for Node 20): put = `insert` of the batch; get+done =
 *   `fetch(queue, { batchSize: n })` then `complete(queue, ids)` (its batch fetch); tasks:
 *   the same loop fetching `concurrency` jobs a time, running them at once, completing
 *   them together, and fetching again at once (pg-boss 10's `work()` waits at least 0.5 s
 *   between fetches). An empty fetch is tried again after 50 ms.
 * - **graphile-worker** (0.17): put = `addJobs` of the batch; get+done = a worker running a
 *   no-op task with `concurrency: n` and a local queue of n (its batch fetch: one query
 *   locks n jobs) and completions batched (`completeJobBatchDelay: 0`), until a fetch finds
 *   the queue empty; tasks: a worker at `concurrency` with a local queue of
 *   concurrency + 1 (its documented starting point) and batched completions.
 */
import PgBoss from 'pg-boss';
import { Logger, makeWorkerUtils, run, type Runner, type TaskList } from 'graphile-worker';
import { DataQueue, PostgresStore, Visq, type Worker } from '../../../dist/index.js';
import type { Payload, ServerAddress, TaskArgs } from '../protocol.js';
import { DATA_QUEUE, TASK_QUEUE, type Batch, type SystemDriver, type TaskClient } from '../systems/types.js';
import { visqDataClient } from '../systems/visq.js';

const VIS_TIMEOUT = 30;
const PREFETCH = 100;
/** Connections per client: a consumer or producer needs one at a time, a worker a few. */
const POOL_MAX = 4;

function database(server: ServerAddress): string {
  if (!server.postgres) throw new Error('the postgres workload runs without its PostgreSQL: no database URL');
  return server.postgres;
}

export const visqPostgres: SystemDriver = {
  async data(server) {
    const store = new PostgresStore({ connectionString: database(server), max: POOL_MAX });
    const queue = new DataQueue<Payload>(store, DATA_QUEUE, { visTimeout: VIS_TIMEOUT });
    await store.ready();
    return visqDataClient(queue, 'visq-postgres', () => store.close());
  },

  async tasks(server) {
    const store = new PostgresStore({ connectionString: database(server), max: POOL_MAX });
    await store.ready();
    const app = new Visq({ store });
    let hooks: Parameters<TaskClient['worker']>[1] | undefined;
    const add = app.task(
      'add',
      async (a: number, b: number) => {
        hooks?.started?.({ a, b });
        return a + b;
      },
      { queue: TASK_QUEUE },
    );
    return {
      async push(argsList: readonly TaskArgs[]) {
        if (argsList.length === 1) {
          const [args] = argsList as [TaskArgs];
          await add.execute([args.a, args.b]);
        } else {
          await add.executeMany(argsList.map(({ a, b }): [number, number] => [a, b]));
        }
      },
      async worker(concurrency, workerHooks) {
        hooks = workerHooks;
        let worker: Worker | undefined;
        return {
          start() {
            worker = app.worker({ queues: [TASK_QUEUE], concurrency, prefetch: Math.max(PREFETCH, concurrency) });
            worker.on('done', () => workerHooks.finished());
            worker.on('failed', ({ error }) => workerHooks.failed(error));
            worker.on('error', (error) => workerHooks.failed(error));
          },
          async close() {
            await worker?.close();
          },
        };
      },
      async close() {
        await app.close();
        await store.close();
      },
    };
  },
};

/** A started pg-boss with the bench's queues; no maintenance or cron work of its own meanwhile. */
async function boss(server: ServerAddress): Promise<PgBoss> {
  const instance = new PgBoss({ connectionString: database(server), max: POOL_MAX, supervise: false, schedule: false });
  instance.on('error', () => undefined);
  await instance.start();
  for (const name of [DATA_QUEUE, TASK_QUEUE]) {
    if (!(await instance.getQueue(name))) await instance.createQueue(name).catch(() => undefined);
  }
  return instance;
}

export const pgBoss: SystemDriver = {
  async data(server) {
    const instance = await boss(server);
    return {
      async put(items) {
        await instance.insert(items.map((data) => ({ name: DATA_QUEUE, data })));
      },
      async get(count): Promise<Batch> {
        const jobs = await instance.fetch<Payload>(DATA_QUEUE, { batchSize: count });
        return {
          items: jobs.map((job) => job.data),
          async ack() {
            if (jobs.length > 0) await instance.complete(DATA_QUEUE, jobs.map((job) => job.id));
          },
        };
      },
      async close() {
        await instance.stop({ graceful: false, wait: true });
      },
    };
  },

  async tasks(server) {
    const instance = await boss(server);
    return {
      async push(argsList) {
        await instance.insert(argsList.map((data) => ({ name: TASK_QUEUE, data })));
      },
      async worker(concurrency, hooks) {
        // its batch fetch, as its get + done above: `work()` in pg-boss 10 waits out its
        // polling interval (at least 0.5 s) after every fetch, jobs or not, which would
        // bound it to `concurrency` jobs per 0.5 s; this loop fetches again at once
        const stop = new AbortController();
        let running: Promise<void> | undefined;
        const loop = async (): Promise<void> => {
          while (!stop.signal.aborted) {
            const jobs = await instance.fetch<TaskArgs>(TASK_QUEUE, { batchSize: concurrency });
            if (jobs.length === 0) {
              await new Promise((resolve) => setTimeout(resolve, 50));
              continue;
            }
            await Promise.all(
              jobs.map(async (job) => {
                hooks.started?.(job.data);
                return job.data.a + job.data.b;
              }),
            );
            await instance.complete(TASK_QUEUE, jobs.map((job) => job.id));
            for (let i = 0; i < jobs.length; i += 1) hooks.finished();
          }
        };
        return {
          start() {
            running = loop().catch(hooks.failed);
          },
          async close() {
            stop.abort();
            await running;
          },
        };
      },
      async close() {
        await instance.stop({ graceful: false, wait: true });
      },
    };
  },
};

/** graphile-worker's worker settings for a batch of `size`: a local queue of it, completions batched. */
function batching(size: number): { localQueue?: { size: number }; completeJobBatchDelay: number } {
  // a local queue of 1 is no queue: graphile-worker wants more than 1
  return size > 1 ? { localQueue: { size }, completeJobBatchDelay: 0 } : { completeJobBatchDelay: 0 };
}

/** graphile-worker logs every job at INFO by default: printing it would be most of what it does here. */
const quiet = new Logger(() => () => undefined);

/**
 * A graphile-worker runner. Its pool: as many connections as it asks for up to 10 (with a
 * local queue it fetches and completes in batches, so it needs few).
 */
async function runner(url: string, concurrency: number, localQueue: number, taskList: TaskList): Promise<Runner> {
  return run({
    connectionString: url,
    maxPoolSize: Math.min(10, concurrency + 2),
    concurrency,
    noHandleSignals: true,
    pollInterval: 1000,
    taskList,
    preset: { worker: batching(localQueue) },
    logger: quiet,
  });
}

export const graphileWorker: SystemDriver = {
  async data(server) {
    const url = database(server);
    const utils = await makeWorkerUtils({ connectionString: url, maxPoolSize: POOL_MAX, logger: quiet });
    await utils.migrate();
    return {
      async put(items) {
        await utils.addJobs(items.map((payload) => ({ identifier: DATA_QUEUE, payload })));
      },
      async drain(batch) {
        let taken = 0;
        let done: (() => void) | undefined;
        const empty = new Promise<void>((resolve) => {
          done = resolve;
        });
        const work = await runner(url, batch, batch, {
          [DATA_QUEUE]: async () => {
            taken += 1;
          },
        });
        // the first fetch that finds nothing: the queue is drained (fills end before the clock starts)
        work.events.on('localQueue:getJobs:complete', ({ jobs }) => {
          if (jobs.length === 0) done?.();
        });
        work.events.on('worker:getJob:empty', () => done?.());
        await Promise.race([empty, work.promise]);
        await work.stop();
        return taken;
      },
      async close() {
        await utils.release();
      },
    };
  },

  async tasks(server) {
    const url = database(server);
    const utils = await makeWorkerUtils({ connectionString: url, maxPoolSize: POOL_MAX, logger: quiet });
    await utils.migrate();
    return {
      async push(argsList) {
        await utils.addJobs(argsList.map((payload) => ({ identifier: TASK_QUEUE, payload })));
      },
      async worker(concurrency, hooks) {
        let work: Runner | undefined;
        let starting: Promise<void> | undefined;
        return {
          start() {
            starting = runner(url, concurrency, concurrency + 1, {
              // graphile-worker keeps no result: the sum is computed and dropped
              [TASK_QUEUE]: async (payload) => {
                const args = payload as TaskArgs;
                hooks.started?.(args);
                void (args.a + args.b);
              },
            }).then((started) => {
              work = started;
              started.events.on('job:success', () => hooks.finished());
              started.events.on('job:error', ({ error }) => hooks.failed(error instanceof Error ? error : new Error(String(error))));
            }, hooks.failed);
          },
          async close() {
            await starting;
            await work?.stop();
          },
        };
      },
      async close() {
        await utils.release();
      },
    };
  },
};
