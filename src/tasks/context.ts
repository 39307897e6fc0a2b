/**
 * The running task's context, available inside a task function without changing its
 * signature: `taskContext()` returns its id, attempt and an AbortSignal that fires when
 * the run times out or the worker gives it up.
 */
import { AsyncLocalStorage } from 'node:async_hooks';

/** What a task function can learn about its own run. */
export interface TaskContext {
  /** The task id (the EnqueuedTask id). */
  readonly taskId: string;
  /** The registered task name. */
  readonly task: string;
  /** The task queue. */
  readonly queue: string;
  /** This run's number, 1 for the first. */
  readonly attempt: number;
  /** The runs allowed in all. */
  readonly attempts: number;
  /** Aborted when the run passes its timeout or its worker stops waiting for it. */
  readonly signal: AbortSignal;
}

const storage = new AsyncLocalStorage<TaskContext>();

/** The context of the task run this code is part of, or `undefined` outside a task. */
export function taskContext(): TaskContext | undefined {
  return storage.getStore();
}

/** Runs `fn` as part of the task run described by `context`. */
export function runInTaskContext<R>(context: TaskContext, fn: () => R): R {
  return storage.run(context, fn);
}
