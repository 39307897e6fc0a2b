/**
 * One item's story for `visq inspect` and the dashboard: where DataQueue.inspect found it
 * and, when the item is a task message, what the task's status record says (its state
 * and the runs started so far), since the data queue counts deliveries, not task runs.
 *
 * A task's item id is its task id, so one lookup serves both; when no item carries the
 * id any more, the task's record still tells what became of it.
 */
import type { ItemInfo } from '../data/options.js';
import type { DataQueue } from '../data/queue.js';
import type { Visq } from '../app.js';
import { isTaskMessage } from '../tasks/message.js';
import { FINAL_STATES, type TaskRecord, type TaskStatus } from '../tasks/records.js';

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

/** The outcome of a lookup: the item found, or a message that says what is known instead. */
export type ItemLookup =
  | { readonly found: true; readonly report: ItemReport }
  | { readonly found: false; readonly message: string };

/** Longest task id and task name, as the task layer accepts them. */
const MAX_TASK_ID = 128;
const MAX_TASK_NAME = 256;

/**
 * Finds the item (or task) `id` in `queue` or its dead letters; `app` reads task records.
 * A diagnostic: O(queue size), not atomic, starts nothing.
 */
export async function inspectItem(queue: DataQueue, app: Visq, id: string): Promise<ItemLookup> {
  const item = await queue.inspect(id);
  if (item) {
    const task = await taskOfItem(app, queue.name, item.id, item.item);
    return { found: true, report: task ? { queue: queue.name, ...item, task } : { queue: queue.name, ...item } };
  }
  const record = validName(id, MAX_TASK_ID) ? await app.enqueuedTask(id, { queue: queue.name }).record() : undefined;
  return { found: false, message: record ? taskWithoutItem(queue, id, record) : notFound(queue, id) };
}

/**
 * What the task record says of the item `id` (a task's item id is its task id) of the
 * queue `queueName`; undefined when the item is not a task message.
 */
export async function taskOfItem(app: Visq, queueName: string, id: string, item: unknown): Promise<ItemTask | undefined> {
  // queues can be written by anyone: only a well-formed task message has a record to read
  if (!isTaskMessage(item) || !validName(id, MAX_TASK_ID) || !validName(item.t, MAX_TASK_NAME)) return undefined;
  const record = await app.enqueuedTask(id, { queue: queueName, task: item.t }).record();
  return record
    ? {
        name: item.t,
        id,
        status: record.state,
        attempt: record.attempt,
        ...(record.error ? { error: record.error } : {}),
        at: new Date(record.at),
      }
    : { name: item.t, id, status: 'unknown' };
}

function validName(value: string, maxLength: number): boolean {
  return value.length > 0 && value.length <= maxLength;
}

function notFound(queue: DataQueue, id: string): string {
  return `No item or task ${JSON.stringify(id)} in the queue ${JSON.stringify(queue.name)} or its dead letters`;
}

/** A task whose record exists but no item of the queue carries it. */
function taskWithoutItem(queue: DataQueue, id: string, record: TaskRecord): string {
  const runs = `${record.attempt} ${record.attempt === 1 ? 'run' : 'runs'}`;
  const about = `The task ${JSON.stringify(id)} (${record.task}) is ${record.state} after ${runs}`;
  const where = `the queue ${JSON.stringify(queue.name)} or its dead letters`;
  return FINAL_STATES.has(record.state)
    ? `${about}; no item of ${where} carries it any more`
    : `${about}, but no item of ${where} carries it (an item that moves during the scan can be missed: try again)`;
}
