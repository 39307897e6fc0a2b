/**
 * What the parts of one Visq app share: its store and that store's task side, its task
 * queues and its registry of tasks. Internal; users see Visq, Task, EnqueuedTask and Worker.
 */
import type { QueueStore } from '../data/backend.js';
import { queueBase } from '../data/keys.js';
import { MAX_ATTEMPTS } from '../data/options.js';
import { DataQueue } from '../data/queue.js';
import { RegistryEntry } from '../data/registry.js';
import { ClosedError, VisqRangeError } from '../errors.js';
import type { ReadLimits } from '../data/limits.js';
import type { TaskMessage } from './message.js';
import type { TaskSettings } from './options.js';
import type { TaskSpec, TaskStore } from './task-store.js';

/** A function registered as a task. */
export type TaskFunction = (...args: never[]) => unknown;

/** How a registered task is scheduled, if it is. */
export type TaskSchedule =
  | { readonly kind: 'periodic'; readonly everyMs: number }
  | { readonly kind: 'cron'; readonly cron: string; readonly tz: string };

/** A task as the registry knows it. */
export interface RegisteredTask {
  readonly name: string;
  /** The name as JSON, ready to go into every message. */
  readonly nameJson: string;
  readonly fn: TaskFunction;
  readonly settings: TaskSettings;
  readonly schedule?: TaskSchedule;
}

export class AppCore {
  readonly prefix: string;
  readonly store: QueueStore;
  readonly tasks: TaskStore;
  readonly keepFinishedMs: number;
  readonly registry = new Map<string, RegisteredTask>();
  readonly #queues = new Map<string, DataQueue<TaskMessage>>();
  /** The task specs of each queue, rebuilt when a task is registered. */
  readonly #specs = new Map<string, readonly TaskSpec[]>();
  /** The registry entries of the task queues this app enqueued to. */
  readonly #listed = new Map<string, RegistryEntry>();
  #closed = false;

  constructor(prefix: string, store: QueueStore, tasks: TaskStore, keepFinishedMs: number) {
    this.prefix = prefix;
    this.store = store;
    this.tasks = tasks;
    this.keepFinishedMs = keepFinishedMs;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Throws ClosedError once the app is closed. */
  ensureOpen(): void {
    if (this.#closed) throw new ClosedError('The Visq app');
  }

  register(task: RegisteredTask): void {
    checkQueueLimits(task, this.registry.values());
    this.registry.set(task.name, task);
    this.#specs.delete(task.settings.queue);
  }

  /** The DataQueue of a task queue. Data-level attempts are unbounded: the task layer counts runs itself. */
  queue(name: string): DataQueue<TaskMessage> {
    let queue = this.#queues.get(name);
    if (!queue) {
      queue = new DataQueue<TaskMessage>(this.store, name, { prefix: this.prefix, attempts: MAX_ATTEMPTS });
      this.#queues.set(name, queue);
    }
    return queue;
  }

  /** The key base of a task queue, under which its task records live too. */
  base(queue: string): string {
    return queueBase(this.prefix, queue);
  }

  /** What the store needs to know of the tasks registered on `queue`. */
  specs(queue: string): readonly TaskSpec[] {
    let specs = this.#specs.get(queue);
    if (!specs) {
      specs = [...this.registry.values()]
        .filter((task) => task.settings.queue === queue)
        .map(({ name, settings }) => ({
          name,
          attempts: settings.attempts,
          visTimeoutMs: Math.ceil(settings.visTimeout * 1000),
          useDead: settings.useDead,
          finishedKeepMs: this.finishedKeepMs(settings),
          resultMs: Math.ceil(settings.saveResults * 1000),
          retryDelayMs: Math.ceil(settings.retryDelay * 1000),
        }));
      this.#specs.set(queue, specs);
    }
    return specs;
  }

  /** The limits of task queue `queue`: those its tasks set (all the same), undefined for none. */
  limits(queue: string): ReadLimits | undefined {
    for (const task of this.registry.values()) {
      if (task.settings.queue === queue && task.settings.limits) return task.settings.limits;
    }
    return undefined;
  }

  /** How long to keep a task's record once it is final. */
  finishedKeepMs(settings: TaskSettings): number {
    return Math.max(this.keepFinishedMs, Math.ceil(settings.saveResults * 1000));
  }

  /**
   * Lists `queue` in the store's registry of queues (for `visq stats` and the dashboard)
   * after its first enqueue in this app; as for a DataQueue put, a failure never fails
   * the enqueue that came first (see data/registry.ts).
   */
  async listQueue(queue: string): Promise<void> {
    let entry = this.#listed.get(queue);
    if (!entry) {
      entry = new RegistryEntry(this.store, this.prefix, queue);
      this.#listed.set(queue, entry);
    }
    await entry.list();
  }

  /** Refuses new work from here on (enqueues, waits, workers); what runs keeps its store. */
  markClosed(): void {
    this.#closed = true;
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const queue of this.#queues.values()) await queue.close();
    await this.tasks.close();
  }
}

/**
 * Refuses a task whose queue limits differ from those another task of its queue set:
 * the limits are the queue's, shared by every claim of it.
 */
function checkQueueLimits(task: RegisteredTask, registered: Iterable<RegisteredTask>): void {
  const mine = task.settings.limits;
  if (!mine) return;
  for (const other of registered) {
    const theirs = other.settings.limits;
    if (other.settings.queue !== task.settings.queue || !theirs) continue;
    if (theirs.intervalUs !== mine.intervalUs || theirs.burst !== mine.burst || theirs.maxInflight !== mine.maxInflight) {
      throw new VisqRangeError(
        `Expected \`options.rateLimit\` and \`options.maxInflight\` of task ${JSON.stringify(task.name)} to equal those task ` +
          `${JSON.stringify(other.name)} sets for their queue ${JSON.stringify(task.settings.queue)}, or to be left out`,
      );
    }
  }
}
