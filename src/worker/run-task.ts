/**
 * One run of a task function: under its context (taskContext()), bounded by its timeout
 * and by the worker giving up, and reduced to an outcome the worker settles. The signal a
 * run sees is made only if the function asks for it.
 */
import { VisqError } from '../errors.js';
import { runInTaskContext, type TaskContext } from '../tasks/context.js';
import type { Deadlines } from './deadlines.js';

/** A run that timed out. */
export class TaskTimeoutError extends VisqError {
  constructor(task: string, seconds: number) {
    super(`Task ${task} ran past its timeout of ${seconds} s`, 'ERR_VISQ_TIMEOUT');
  }
}

function asError(value: unknown): Error {
  return value instanceof Error ? value : new Error(String(value));
}

/** How a run ended. */
export type RunOutcome =
  | { readonly ok: true; readonly result: unknown; readonly runMs: number }
  | { readonly ok: false; readonly error: Error; readonly runMs: number };

/** A run's context; its AbortSignal exists once asked for (or once the run is stopped). */
export class RunContext implements TaskContext {
  readonly taskId: string;
  readonly task: string;
  readonly queue: string;
  readonly attempt: number;
  readonly attempts: number;
  #controller: AbortController | undefined;
  #stop: ((error: Error) => void) | undefined;
  #stopped: Error | undefined;

  constructor(taskId: string, task: string, queue: string, attempt: number, attempts: number) {
    this.taskId = taskId;
    this.task = task;
    this.queue = queue;
    this.attempt = attempt;
    this.attempts = attempts;
  }

  get signal(): AbortSignal {
    if (!this.#controller) {
      this.#controller = new AbortController();
      if (this.#stopped) this.#controller.abort(this.#stopped);
    }
    return this.#controller.signal;
  }

  /** Ends the run now with `error` (a timeout, or the worker giving up): the function's signal aborts. */
  stop(error: Error): void {
    if (this.#stopped) return;
    this.#stopped = error;
    this.#controller?.abort(error);
    this.#stop?.(error);
  }

  /** Runs `fn(...args)` in this context until it settles or the run is stopped. */
  run(fn: (...args: unknown[]) => unknown, args: readonly unknown[]): Promise<unknown> {
    return new Promise((resolve, reject) => {
      if (this.#stopped) return reject(this.#stopped);
      this.#stop = reject;
      try {
        Promise.resolve(runInTaskContext(this, () => fn(...args))).then(resolve, reject);
      } catch (error) {
        reject(error);
      }
    });
  }
}

/**
 * Runs a task function once and tells how it ended. `timeoutSeconds` > 0 bounds it (one
 * shared timer for all runs, in `deadlines`).
 */
export async function runTask(
  fn: (...args: unknown[]) => unknown,
  args: readonly unknown[],
  context: RunContext,
  timeoutSeconds: number,
  deadlines: Deadlines,
): Promise<RunOutcome> {
  const started = performance.now();
  const deadline =
    timeoutSeconds > 0
      ? deadlines.add(Math.ceil(timeoutSeconds * 1000), () => context.stop(new TaskTimeoutError(context.task, timeoutSeconds)))
      : undefined;
  try {
    const result = await context.run(fn, args);
    return { ok: true, result, runMs: performance.now() - started };
  } catch (error) {
    return { ok: false, error: asError(error), runMs: performance.now() - started };
  } finally {
    deadline?.cancel();
  }
}

/** The error a run gets when its worker stops waiting for it. */
export function givenUp(): VisqError {
  return new VisqError('The worker stopped waiting for this run', 'ERR_VISQ_CLOSED');
}
