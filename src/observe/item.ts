/**
 * One item's story for `visq inspect` and the dashboard: where DataQueue.inspect found it
 * and, when the item is a task message, what the task's status record says (its state
 * and the runs started so far), since the data queue counts deliveries, not task runs.
 */
import type { ItemInfo } from '../data/options.js';
import type { DataQueue } from '../data/queue.js';
import type { Visq } from '../app.js';
import { isTaskMessage } from '../tasks/message.js';
import type { TaskStatus } from '../tasks/records.js';

/** What the task record says about a task queue's item. */
export interface ItemTask {
  readonly name: string;
  readonly id: string;
  /** The task's status; `unknown` when its record is gone (expired) or was never written. */
  readonly status: TaskStatus;
  /** Runs started so far (the current one included); absent without a record. */
  readonly attempt?: number;
  /** The last failure's message, if any. */
  readonly error?: string;
  /** Store time of the record's last change (for a failed task: its failure); absent without a record. */
  readonly at?: Date;
}

/** An inspected item: DataQueue.inspect's fields, plus the task's when it is a task message. */
export interface ItemReport extends ItemInfo<unknown> {
  readonly queue: string;
  readonly task?: ItemTask;
}

/** Inspects the item `id` of `queue`; `app` reads the task record of a task message. */
export async function inspectItem(queue: DataQueue, app: Visq, id: string): Promise<ItemReport | undefined> {
  const info = await queue.inspect(id);
  if (!info) return undefined;
  const task = await taskOfItem(app, queue.name, info.item);
  return task ? { queue: queue.name, ...info, task } : { queue: queue.name, ...info };
}

/** What the task record says of `item` of the queue `queueName`; undefined when the item is not a task message. */
export async function taskOfItem(app: Visq, queueName: string, item: unknown): Promise<ItemTask | undefined> {
  // queues can be written by anyone: only a well-formed task message has a record to read
  if (!isTaskMessage(item) || !validName(item.i, 128) || !validName(item.t, 256)) return undefined;
  const record = await app.enqueuedTask(item.i, { queue: queueName, task: item.t }).record();
  return record
    ? {
        name: item.t,
        id: item.i,
        status: record.state,
        attempt: record.attempt,
        ...(record.error ? { error: record.error } : {}),
        at: new Date(record.at),
      }
    : { name: item.t, id: item.i, status: 'unknown' };
}

function validName(value: string, maxLength: number): boolean {
  return value.length > 0 && value.length <= maxLength;
}
