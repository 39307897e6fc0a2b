/**
 * The item a task queue carries: which task, its id, its arguments, and its priority
 * (kept so that an at-most-once retry, which is a new item, keeps it). Runs are counted
 * by the task's status record, not here.
 */
import { VisqTypeError } from '../errors.js';

/** A task queue item. Short keys: this is on the hot path of every task. */
export interface TaskMessage {
  /** Task name. */
  readonly t: string;
  /** Task id (also the EnqueuedTask id). */
  readonly i: string;
  /** Arguments. */
  readonly a: readonly unknown[];
  /** Priority, when not 0. */
  readonly r?: number;
}

/** Checks that a queue item is a task message (queues can be written by anyone). */
export function isTaskMessage(value: unknown): value is TaskMessage {
  if (typeof value !== 'object' || value === null) return false;
  const m = value as Partial<TaskMessage>;
  return (
    typeof m.t === 'string' &&
    typeof m.i === 'string' &&
    Array.isArray(m.a) &&
    (m.r === undefined || typeof m.r === 'number')
  );
}

export function assertArgs(args: unknown): readonly unknown[] {
  if (!Array.isArray(args)) {
    throw new VisqTypeError(`Expected \`args\` to be an array of the task's arguments, got ${typeof args}`);
  }
  return args;
}
