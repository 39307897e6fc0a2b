/**
 * Visq: the app, the task layer's entry point. Registers task functions (plain, periodic,
 * cron, or as method decorators), enqueues them through Task objects, rebuilds
 * EnqueuedTask handles from ids, and starts workers. It sits above both tasks/ and
 * worker/, so that the task layer never depends on the worker runtime.
 */
import type { QueueStore } from './data/backend.js';
import type { DataQueue } from './data/queue.js';
import { resolveStore } from './data/store.js';
import { VisqError, VisqTypeError } from './errors.js';
import * as check from './validate.js';
import { Worker } from './worker/worker.js';
import type { WorkerOptions } from './worker/options.js';
import { AppCore, type RegisteredTask, type TaskFunction, type TaskSchedule } from './tasks/core.js';
import { EnqueuedTask } from './tasks/enqueued.js';
import { parseTaskMetrics, type TaskMetrics } from './tasks/metrics.js';
import { FAILURES_KEPT, type TaskFailure } from './tasks/records.js';
import { taskStoreOf } from './tasks/task-store.js';
import type { TaskMessage } from './tasks/message.js';
import {
  TASK_OPTION_KEYS,
  taskSettings,
  type CronTaskOptions,
  type PeriodicTaskOptions,
  type TaskOptions,
  type VisqOptions,
} from './tasks/options.js';
import { checkCron } from './tasks/schedule.js';
import { Task } from './tasks/task.js';

/** Options of the decorator form, `@app.task({ ... })`. */
export interface TaskDecoratorOptions extends TaskOptions {
  /** Task name. Default: the method name. */
  name?: string;
}

/** A TC39 method decorator that registers the method as a task. */
export type TaskMethodDecorator = <This, A extends unknown[], R>(
  method: (this: This, ...args: A) => R,
  context: ClassMethodDecoratorContext<This, (this: This, ...args: A) => R>,
) => void;

/**
 * A task app: a registry of task functions on one store.
 *
 * ```ts
 * const app = new Visq({ redis });
 * const add = app.task('add', async (a: number, b: number) => a + b, { attempts: 3, saveResults: 60 });
 * const et = await add.execute([1, 2]);
 * if (await et.wait(5)) console.log(await et.result());
 * ```
 */
export class Visq {
  /** The key prefix of the app's task queues and records. */
  readonly prefix: string;

  readonly #core: AppCore;
  readonly #ownedStore: QueueStore | undefined;
  readonly #workers = new Set<Worker>();
  #closed = false;

  constructor(options: VisqOptions) {
    const opts = check.options('options', options, ['redis', 'store', 'prefix', 'keepFinished']);
    if ((opts.redis === undefined) === (opts.store === undefined)) {
      throw new VisqTypeError('Expected exactly one of `options.redis` and `options.store`');
    }
    const { store, owned } = resolveStore(
      opts.redis === undefined ? 'options.store' : 'options.redis',
      opts.redis ?? opts.store,
    );
    this.prefix =
      opts.prefix === undefined ? 'visq' : check.text('options.prefix', opts.prefix, { maxLength: 128, forbid: '{}' });
    const keepFinished = opts.keepFinished === undefined ? 600 : check.seconds('options.keepFinished', opts.keepFinished);
    const tasks = taskStoreOf(opts.redis === undefined ? 'options.store' : 'options.redis', store);
    this.#core = new AppCore(this.prefix, store, tasks, Math.ceil(keepFinished * 1000));
    this.#ownedStore = owned ? store : undefined;
  }

  /** Registers `fn` as the task `name`. */
  task<A extends unknown[], R>(name: string, fn: (...args: A) => R, options?: TaskOptions): Task<A, Awaited<R>>;
  /** The decorator form: `@app.task({ attempts: 20, visTimeout: 5 })` on a method. */
  task(options?: TaskDecoratorOptions): TaskMethodDecorator;
  task<A extends unknown[], R>(
    nameOrOptions?: string | TaskDecoratorOptions,
    fn?: (...args: A) => R,
    options?: TaskOptions,
  ): Task<A, Awaited<R>> | TaskMethodDecorator {
    if (typeof nameOrOptions === 'string') return this.#register(nameOrOptions, fn, options, undefined);
    // a function second means the plain form with a name that is not a string, not a decorator
    if (fn !== undefined) throw check.typeError('name', 'a task name (a string)', nameOrOptions);
    const decoratorOptions = check.options('options', nameOrOptions, [...TASK_OPTION_KEYS, 'name']);
    // checked now, so a bad option fails where it is written, not when a class is decorated
    taskSettings('options', decoratorOptions);
    if (decoratorOptions.name !== undefined) check.text('options.name', decoratorOptions.name);
    return (method, context) => {
      if (context.kind !== 'method') throw new VisqTypeError('@app.task() decorates methods only');
      const { name, ...taskOptions } = decoratorOptions;
      let self: unknown;
      // the initializer runs when the class (static) or an instance is created, giving `this`
      context.addInitializer(function (this: unknown) {
        self = this;
      });
      this.#register(
        name === undefined ? String(context.name) : check.text('options.name', name),
        (...args: Parameters<typeof method>) => method.apply(self as ThisParameterType<typeof method>, args),
        taskOptions as TaskOptions,
        undefined,
      );
    };
  }

  /**
   * Registers `fn` to run every `every` seconds, at multiples of `every` since the epoch,
   * once per due time however many workers run; missed runs collapse into one.
   */
  periodicTask<R>(name: string, fn: () => R, options: PeriodicTaskOptions): Task<[], Awaited<R>> {
    const opts = check.options('options', options, [...TASK_OPTION_KEYS, 'every']);
    const every = check.seconds('options.every', opts.every, { exclusiveMin: true });
    const { every: _every, ...taskOptions } = opts;
    return this.#register(name, fn, taskOptions as TaskOptions, { kind: 'periodic', everyMs: check.toMs(every) });
  }

  /** Registers `fn` to run at the times of a cron expression, once per due time however many workers run. */
  cronTask<R>(name: string, fn: () => R, options: CronTaskOptions): Task<[], Awaited<R>> {
    const opts = check.options('options', options, [...TASK_OPTION_KEYS, 'cron', 'tz']);
    const cron = check.text('options.cron', opts.cron, { maxLength: 256 });
    const tz = opts.tz === undefined ? 'UTC' : check.text('options.tz', opts.tz, { maxLength: 64 });
    checkCron(cron, tz);
    const { cron: _cron, tz: _tz, ...taskOptions } = opts;
    return this.#register(name, fn, taskOptions as TaskOptions, { kind: 'cron', cron, tz });
  }

  /** The task registered as `name`, typed by the caller (for decorated methods). */
  getTask<A extends unknown[] = unknown[], R = unknown>(name: string): Task<A, R> | undefined {
    const registered = this.#core.registry.get(name);
    return registered ? new Task<A, R>(this.#core, registered) : undefined;
  }

  /** Names of the registered tasks. */
  get taskNames(): string[] {
    return [...this.#core.registry.keys()];
  }

  /** A handle on an enqueued task from its id, e.g. in another process. */
  enqueuedTask<R = unknown>(id: string, options?: { queue?: string; task?: string }): EnqueuedTask<R> {
    const taskId = check.text('id', id, { maxLength: 128 });
    const opts = check.options('options', options, ['queue', 'task']);
    const queue = opts.queue === undefined ? 'default' : check.text('options.queue', opts.queue, { forbid: '}' });
    const task = opts.task === undefined ? '' : check.text('options.task', opts.task);
    return new EnqueuedTask<R>(this.#core, taskId, task, queue);
  }

  /**
   * The task metrics of a task queue, one entry per task name that has run there: runs
   * started, tasks done and failed, runs retried, and a run-time histogram. Counted in the
   * store by the status changes themselves, so every process sees the same totals.
   */
  async taskMetrics(queue = 'default'): Promise<TaskMetrics[]> {
    const name = check.text('queue', queue, { forbid: '}' });
    return parseTaskMetrics(name, await this.#core.tasks.taskMetrics(this.#core.base(name)));
  }

  /**
   * The latest failed runs of a task queue's tasks, newest first: up to `count` (an
   * integer from 1 to 50, default 50) of the 50 the store keeps per queue. A run that
   * failed and will be retried is one (`final: false`), and so is a task that failed for
   * good (`final: true`). Written by the status changes themselves, so every process sees
   * the same list.
   */
  async recentFailures(queue = 'default', count = FAILURES_KEPT): Promise<TaskFailure[]> {
    const name = check.text('queue', queue, { forbid: '}' });
    const limit = check.integerIn('count', count, 1, FAILURES_KEPT);
    return this.#core.tasks.recentFailures(this.#core.base(name), limit);
  }

  /** The DataQueue behind a task queue: for stats, peeking, dead letters and redrive. */
  queue(name = 'default'): DataQueue<TaskMessage> {
    return this.#core.queue(check.text('name', name, { forbid: '}' }));
  }

  /**
   * Checks that the app's store can be reached: resolves once Redis (or the store) has
   * answered a round trip; rejects with a `StoreError` whose message names the server
   * (URL without password) and the reason — refused, wrong password, no answer — at the
   * first connection failure or after `timeout` seconds (greater than 0, at most 3600;
   * default 10). For start-up: an ioredis client keeps retrying a server it cannot
   * reach, so without a check a worker starts and fails later, more vaguely.
   *
   * ```ts
   * await app.ping(); // throws "Cannot connect to Redis at redis://127.0.0.1:6390: connect ECONNREFUSED …"
   * app.worker();
   * ```
   */
  async ping(timeout = 10): Promise<void> {
    this.#ensureOpen();
    // an hour is plenty for a start-up check, and stays within one timer (2^31 ms)
    const seconds = check.seconds('timeout', timeout, { exclusiveMin: true, max: 3600 });
    await this.#core.store.checkConnection(check.toMs(seconds));
  }

  /** Starts a worker serving task queues of this app. */
  worker(options?: WorkerOptions): Worker {
    this.#ensureOpen();
    const worker = new Worker(this.#core, options);
    this.#workers.add(worker);
    void worker.closed.then(() => this.#workers.delete(worker));
    return worker;
  }

  /** Closes the app's workers (gracefully), queues and connections; never the caller's Redis client. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#core.markClosed();
    await Promise.all([...this.#workers].map((w) => w.close()));
    await this.#core.close();
    await this.#ownedStore?.close();
  }

  #ensureOpen(): void {
    this.#core.ensureOpen();
  }

  #register<A extends unknown[], R>(
    name: string,
    fn: ((...args: A) => R) | undefined,
    options: TaskOptions | undefined,
    schedule: TaskSchedule | undefined,
  ): Task<A, Awaited<R>> {
    this.#ensureOpen();
    const taskName = check.text('name', name, { maxLength: 256 });
    if (typeof fn !== 'function') throw check.typeError('fn', 'a function', fn);
    const opts = check.options('options', options, TASK_OPTION_KEYS);
    if (this.#core.registry.has(taskName)) {
      throw new VisqError(`A task named ${JSON.stringify(taskName)} is already registered`, 'ERR_VISQ_TASK');
    }
    const registered: RegisteredTask = {
      name: taskName,
      nameJson: JSON.stringify(taskName),
      fn: fn as TaskFunction,
      settings: taskSettings('options', opts),
      ...(schedule ? { schedule } : {}),
    };
    this.#core.register(registered);
    return new Task<A, Awaited<R>>(this.#core, registered);
  }
}
