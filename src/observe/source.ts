/**
 * Where the metrics endpoint and the dashboard read from: one store and prefix, the
 * queues to show (a fixed list, or the registry of queue names read on every request),
 * and per queue its stats() totals and task metrics. Kept in one place so that the
 * Prometheus view and the JSON API always report the same numbers.
 */
import type { QueueStore } from '../data/backend.js';
import { queueSettings, type QueueStats } from '../data/options.js';
import { DataQueue } from '../data/queue.js';
import { statsRecord } from '../data/stats.js';
import { resolveStore, type StoreLike } from '../data/store.js';
import type { RedisConnection } from '../data/store.js';
import { Visq } from '../app.js';
import type { TaskMetrics } from '../tasks/metrics.js';
import { VisqTypeError } from '../errors.js';
import * as check from '../validate.js';

/** Where the queues are: what `createMetricsHandler` and `createDashboardHandler` take. */
export interface QueueSourceOptions {
  /** An ioredis `Redis` or `Cluster` the caller owns; visq never closes it. Exactly one of `redis` and `store`. */
  redis?: RedisConnection;
  /** A store, e.g. a `MemoryStore` shared with the queues it reports on. */
  store?: StoreLike;
  /** Key prefix of the queues. Default `'visq'`. */
  prefix?: string;
  /**
   * The queues to report, in this order. Default: every queue in the prefix's registry of
   * queue names (written by each queue's first put), read again on every request.
   */
  queues?: readonly string[];
}

/** One queue as read at one moment: every stats() field and the metrics of its tasks. */
export interface QueueReading {
  readonly name: string;
  readonly stats: Record<keyof QueueStats, number>;
  readonly tasks: readonly TaskMetrics[];
}

export const SOURCE_OPTION_KEYS = ['redis', 'store', 'prefix', 'queues'] as const;

export class QueueSource {
  readonly prefix: string;
  readonly #store: QueueStore;
  /** Only for its read paths (task metrics, task records): it starts no worker and opens no connection. */
  readonly #app: Visq;
  readonly #queues: readonly string[] | undefined;

  /** `options` must already have passed `check.options` with the caller's known keys. */
  constructor(options: Partial<Record<(typeof SOURCE_OPTION_KEYS)[number], unknown>>) {
    if ((options.redis === undefined) === (options.store === undefined)) {
      throw new VisqTypeError('Expected exactly one of `options.redis` and `options.store`');
    }
    this.#store = resolveStore(
      options.redis === undefined ? 'options.store' : 'options.redis',
      options.redis ?? options.store,
    ).store;
    this.prefix =
      options.prefix === undefined ? 'visq' : check.text('options.prefix', options.prefix, { maxLength: 128, forbid: '{}' });
    this.#queues = options.queues === undefined ? undefined : queueList(options.queues);
    this.#app = new Visq({ store: this.#store, prefix: this.prefix });
  }

  /** The queues to report, sorted as listed (the registry's are sorted by name). */
  async names(): Promise<string[]> {
    return this.#queues ? [...this.#queues] : this.#store.queueNames(this.prefix);
  }

  /** Whether `name` may be shown: any name, unless a fixed list was given. */
  allows(name: string): boolean {
    return this.#queues === undefined || this.#queues.includes(name);
  }

  /** Opens the queue `name` for `use` and closes it afterwards (a handle is cheap: no connection of its own). */
  async use<R>(name: string, use: (queue: DataQueue) => Promise<R>): Promise<R> {
    const queue = new DataQueue(this.#store, name, { prefix: this.prefix });
    try {
      return await use(queue);
    } finally {
      await queue.close();
    }
  }

  /** The task app of this prefix, for reading task records. */
  get app(): Visq {
    return this.#app;
  }

  /** The queue's stats and, unless `withTasks` is false, its task metrics (else none). */
  async read(name: string, withTasks = true): Promise<QueueReading> {
    const [stats, tasks] = await Promise.all([
      this.use(name, (queue) => queue.stats()),
      withTasks ? this.#app.taskMetrics(name) : [],
    ]);
    return { name, stats: statsRecord(stats), tasks };
  }

  async readAll(withTasks = true): Promise<QueueReading[]> {
    return Promise.all((await this.names()).map((name) => this.read(name, withTasks)));
  }
}

function queueList(value: unknown): string[] {
  if (!Array.isArray(value)) throw check.typeError('options.queues', 'an array of queue names', value);
  return value.map((name, i) => {
    const checked = check.text(`options.queues[${i}]`, name, { maxLength: 256 });
    // and whatever else a DataQueue requires of a name, checked now rather than at each request
    queueSettings(checked, undefined);
    return checked;
  });
}
