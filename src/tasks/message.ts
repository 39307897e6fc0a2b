/**
 * The item a task queue carries: the task's name and its arguments, as JSON. Its item id
 * is the task id, so the message does not repeat it; runs, priority and delay are the
 * record's and the queue's business.
 */
import { encodeItem } from '../data/codec.js';
import { VisqTypeError } from '../errors.js';
import { describe } from '../validate.js';

/** A task queue item. Short keys: this is on the hot path of every task. */
export interface TaskMessage {
  /** Task name. */
  readonly t: string;
  /** Arguments. */
  readonly a: readonly unknown[];
}

/** Checks that a queue item is a task message (queues can be written by anyone). */
export function isTaskMessage(value: unknown): value is TaskMessage {
  if (typeof value !== 'object' || value === null) return false;
  const m = value as Partial<TaskMessage>;
  return typeof m.t === 'string' && Array.isArray(m.a);
}

/** Checks `args` is an array of the task's arguments; `name` names it in the error. */
export function assertArgs(args: unknown, name = 'args'): readonly unknown[] {
  if (!Array.isArray(args)) {
    throw new VisqTypeError(`Expected \`${name}\` to be an array of the task's arguments, got ${describe(args)}`);
  }
  return args;
}

/**
 * The item JSON of one run of the task whose name encodes to `nameJson`: the arguments
 * are checked and encoded once (`name` names them in errors, e.g. `args[0]`), then wrapped.
 */
export function encodeMessage(nameJson: string, args: unknown, name: string, maxBytes: number): string {
  const argsJson = encodeItem(assertArgs(args, name), name, maxBytes);
  return `{"t":${nameJson},"a":${argsJson}}`;
}
