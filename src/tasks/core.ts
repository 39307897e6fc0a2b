/**
 * What the parts of one Visq app share: its store, its task records, its task queues
 * and its registry of tasks. Internal; users see Visq, Task, EnqueuedTask and Worker.
 */
import type { QueueStore } from '../data/backend.js';
import { queueBase } from '../data/keys.js';
import { MAX_ATTEMPTS } from '../data/options.js';
import { DataQueue } from '../data/queue.js';
import type { TaskMessage } from './message.js';
import type { TaskSettings } from './options.js';
import type { TaskRecordStore } from './records.js';

/** A function registered as a task. */
export type TaskFunction = (...args: never[]) => unknown;

/** How a registered task is scheduled, if it is. */
export type TaskSchedule =
  | { readonly kind: 'periodic'; readonly everyMs: number }
  | { readonly kind: 'cron'; readonly cron: string; readonly tz: string };

/** A task as the registry knows it. */
export interface RegisteredTask {
  readonly name: string;
  readonly fn: TaskFunction;
  readonly settings: TaskSettings;
  readonly schedule?: TaskSchedule;
}

/** Pending task records live this long (plus any delay) unless a transition renews them. */
export const PENDING_KEEP_MS = 7 * 24 * 3600 * 1000;

export class AppCore {
  readonly prefix: string;
  readonly store: QueueStore;
  readonly records: TaskRecordStore;
  readonly keepFinishedMs: number;
  readonly registry = new Map<string, RegisteredTask>();
  readonly #queues = new Map<string, DataQueue<TaskMessage>>();

  constructor(prefix: string, store: QueueStore, records: TaskRecordStore, keepFinishedMs: number) {
    this.prefix = prefix;
    this.store = store;
    this.records = records;
    this.keepFinishedMs = keepFinishedMs;
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

  /** How long to keep a task's record once it is final. */
  finishedKeepMs(settings: TaskSettings): number {
    return Math.max(this.keepFinishedMs, Math.ceil(settings.saveResults * 1000));
  }

  async close(): Promise<void> {
    for (const queue of this.#queues.values()) await queue.close();
    await this.records.close();
  }
}
