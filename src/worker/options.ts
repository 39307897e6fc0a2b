/** Options of `app.worker(...)` and their checks. */
import * as check from '../validate.js';
import { shardSettings, type ShardOptions } from './shard.js';

/** Options of a worker. */
export interface WorkerOptions {
  /** Task queues to serve. Default: every queue a registered task runs on. */
  queues?: readonly string[];
  /** Tasks run at once. Default 10. */
  concurrency?: number;
  /** Tasks held at most (running + fetched ahead), read in batches. Default: `concurrency`. */
  prefetch?: number;
  /**
   * Stop by itself after this many seconds, or after `{ tasks }` runs: once that many runs
   * have started it takes no more, finishes them and closes (deliveries discarded without
   * a run, such as cancelled tasks, do not count).
   */
  lifetime?: number | { seconds?: number; tasks?: number };
  /** Default seconds a run may take before it counts as failed, for tasks without their own `timeout`. Default 0 (no limit). */
  timeout?: number;
  /** Seconds `close()` waits for running tasks before giving their leases back. Default 30. */
  shutdownTimeout?: number;
  /**
   * Seconds a fetched task that has not started yet is held before other workers may
   * take it, should this worker die; refreshed while held. Default: the shortest
   * `visTimeout` among the served tasks, or 30.
   */
  lease?: number;
  /**
   * Serve only the queues that belong to machine `machine` (1 to `of`) of a fleet of
   * `of`, by a stable hash of the queue name (see `shardOf`), so that workers started
   * with the same `of` and different machine numbers split the queues between them
   * without coordination. Applies to `queues` or, without it, to every queue of a
   * registered task. A machine that gets no queue runs idle (its `queues` is empty).
   * Default: serve every queue.
   */
  shard?: ShardOptions;
}

/** Validated worker settings. */
export interface WorkerSettings {
  readonly queues: readonly string[] | undefined;
  readonly concurrency: number;
  readonly prefetch: number;
  readonly lifetimeMs: number;
  readonly lifetimeTasks: number;
  readonly timeout: number;
  readonly shutdownTimeout: number;
  readonly lease: number | undefined;
  readonly shard: Readonly<ShardOptions> | undefined;
}

export function workerSettings(value: unknown): WorkerSettings {
  const opts = check.options('options', value, [
    'queues',
    'concurrency',
    'prefetch',
    'lifetime',
    'timeout',
    'shutdownTimeout',
    'lease',
    'shard',
  ]);
  let queues: string[] | undefined;
  if (opts.queues !== undefined) {
    if (!Array.isArray(opts.queues) || opts.queues.length === 0) {
      throw check.typeError('options.queues', 'a non-empty array of queue names', opts.queues);
    }
    queues = opts.queues.map((q, i) => check.text(`options.queues[${i}]`, q, { maxLength: 256, forbid: '}' }));
  }
  const concurrency = opts.concurrency === undefined ? 10 : check.integerIn('options.concurrency', opts.concurrency, 1, 10_000);
  let lifetimeMs = 0;
  let lifetimeTasks = 0;
  if (typeof opts.lifetime === 'number') {
    lifetimeMs = check.toMs(check.seconds('options.lifetime', opts.lifetime, { exclusiveMin: true }));
  } else if (opts.lifetime !== undefined) {
    const lifetime = check.options('options.lifetime', opts.lifetime, ['seconds', 'tasks']);
    if (lifetime.seconds !== undefined) {
      lifetimeMs = check.toMs(check.seconds('options.lifetime.seconds', lifetime.seconds, { exclusiveMin: true }));
    }
    if (lifetime.tasks !== undefined) {
      lifetimeTasks = check.integerIn('options.lifetime.tasks', lifetime.tasks, 1, Number.MAX_SAFE_INTEGER);
    }
  }
  return {
    queues,
    concurrency,
    prefetch: opts.prefetch === undefined ? concurrency : check.integerIn('options.prefetch', opts.prefetch, 1, 100_000),
    lifetimeMs,
    lifetimeTasks,
    timeout: opts.timeout === undefined ? 0 : check.seconds('options.timeout', opts.timeout),
    shutdownTimeout: opts.shutdownTimeout === undefined ? 30 : check.seconds('options.shutdownTimeout', opts.shutdownTimeout),
    lease: opts.lease === undefined ? undefined : check.seconds('options.lease', opts.lease, { exclusiveMin: true }),
    shard: opts.shard === undefined ? undefined : shardSettings('options.shard', opts.shard),
  };
}
