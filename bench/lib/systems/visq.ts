/**
 * visq as users run it: the built package in dist/ (`npm run bench` builds it first; the
 * TypeScript source through tsx costs the worker about a tenth more CPU per task, mostly
 * esbuild's name-keeping wrappers on every closure). Its own ioredis connection per
 * agent. Data: a DataQueue with a 30 s visibility timeout. Tasks: the `add` task, a
 * worker with prefetch max(100, concurrency), and per profile:
 * - `defaults`: the task defaults, `attempts: 1, visTimeout: 0` (at most once: a task
 *   whose worker dies is not run again), no saved result;
 * - `at-least-once`: `attempts: 3, visTimeout: 30`: a run that throws is retried, and a
 *   task whose worker dies (or hangs past its 30 s lease, which the worker refreshes
 *   while the run lasts) is run again, at most 3 runs in all; no saved result.
 */
import { Redis } from 'ioredis';
import { DataQueue, Visq, type TaskOptions, type Worker } from '../../../dist/index.js';
import type { Payload, ServerAddress, TaskArgs, TaskProfile } from '../protocol.js';
import { DATA_QUEUE, TASK_QUEUE, type Batch, type DataClient, type SystemDriver, type TaskClient, type WorkerHooks } from './types.js';

/** Seconds a read holds its items: far longer than any run, so nothing is redelivered. */
const VIS_TIMEOUT = 30;
const PREFETCH = 100;
/** The task options of each profile (the task queue is added below). */
const TASK_OPTIONS: Readonly<Record<TaskProfile, TaskOptions>> = {
  defaults: {},
  'at-least-once': { attempts: 3, visTimeout: 30 },
};

function connect(server: ServerAddress): Redis {
  return new Redis({ host: server.host, port: server.port });
}

/**
 * A visq data driver's client on any store: plain, grouped and deduplicated puts (a new
 * key per item: every put claims its key, the cost the dedupe rows measure), and reads
 * under the visibility timeout acknowledged by one doneData that must finish every lease
 * it read. `close` ends what the driver opened besides the queue.
 */
export function visqDataClient(queue: DataQueue<Payload>, system: string, close: () => Promise<unknown>): DataClient {
  const keyPrefix = `${process.pid}-${Math.random().toString(36).slice(2)}-`;
  let nextKey = 0;
  return {
    async put(items, groups) {
      await queue.putData(items, groups ? { group: (_, i) => groups[i] as string } : undefined);
    },
    async putDeduped(items) {
      const first = nextKey;
      nextKey += items.length;
      await queue.putData(items, { dedupe: { key: (_item, i) => `${keyPrefix}${first + i}`, window: 300 } });
    },
    async get(count, blockMs = 0): Promise<Batch> {
      const leased = await queue.getData(count, blockMs > 0 ? { wait: blockMs / 1000 } : undefined);
      return {
        items: [...leased.values()],
        async ack() {
          if (leased.size === 0) return;
          const done = await queue.doneData(leased);
          if (done !== leased.size) throw new Error(`${system}: doneData finished ${done} of ${leased.size} leases`);
        },
      };
    },
    async close() {
      await queue.close();
      await close();
    },
  };
}

export const visq: SystemDriver = {
  async data(server) {
    const redis = connect(server);
    const queue = new DataQueue<Payload>(redis, DATA_QUEUE, { visTimeout: VIS_TIMEOUT });
    return visqDataClient(queue, 'visq', () => redis.quit());
  },

  async tasks(server, profile) {
    const redis = connect(server);
    const app = new Visq({ redis });
    let hooks: WorkerHooks | undefined;
    const add = app.task(
      'add',
      async (a: number, b: number) => {
        hooks?.started?.({ a, b });
        return a + b;
      },
      { ...TASK_OPTIONS[profile], queue: TASK_QUEUE },
    );
    const client: TaskClient = {
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
        await redis.quit();
      },
    };
    return client;
  },
};
