/**
 * One run of a task function: under its context (taskContext()), bounded by its timeout
 * and by the worker giving up, and reduced to an outcome the worker settles. A run costs
 * no promise of its own when the function is synchronous, and the signal a run sees is
 * made only if the function asks for it.
 */
import { VisqError } from '../errors.js';
import { runInTaskContext, type TaskContext } from '../tasks/context.js';
import type { DeadlineHandle, Deadlines } from './deadlines.js';

/** A run that timed out. */
export class TaskTimeoutError extends VisqError {
  constructor(task: string, seconds: number) {
    super(`Task ${task} ran past its timeout of ${seconds} s`, 'ERR_VISQ_TIMEOUT');
  }
}

function asError(value: unknown): Error {
  return value instanceof Error ? value : new Error(String(value));
}

/** Called once when a run ends: with its value, or with its error. */
export type RunEnd = (ok: boolean, value: unknown, runMs: number) => void;

/** A run's context; its AbortSignal exists once asked for (or once the run is stopped). */
export class RunContext implements TaskContext {
  readonly taskId: string;
  readonly task: string;
  readonly queue: string;
  readonly attempt: number;
  readonly attempts: number;
  #controller: AbortController | undefined;
  #stopped: Error | undefined;
  #end: RunEnd | undefined;
  #started = 0;
  #deadline: DeadlineHandle | undefined;

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

  /**
   * Runs `fn(...args)` in this context; `end` hears once how it ended. `timeoutSeconds` >
   * 0 bounds it (one shared timer for all runs, in `deadlines`).
   */
  start(
    fn: (...args: unknown[]) => unknown,
    args: readonly unknown[],
    timeoutSeconds: number,
    deadlines: Deadlines,
    end: RunEnd,
  ): void {
    this.#end = end;
    this.#started = performance.now();
    if (timeoutSeconds > 0) {
      this.#deadline = deadlines.add(Math.ceil(timeoutSeconds * 1000), () =>
        this.stop(new TaskTimeoutError(this.task, timeoutSeconds)),
      );
    }
    let value: unknown;
    try {
      value = runInTaskContext(this, () => fn(...args));
    } catch (error) {
      this.#finish(false, asError(error));
      return;
    }
    if (typeof (value as PromiseLike<unknown> | undefined)?.then === 'function') {
      (value as PromiseLike<unknown>).then(
        (result) => this.#finish(true, result),
        (error: unknown) => this.#finish(false, asError(error)),
      );
    } else {
      this.#finish(true, value);
    }
  }

  /** Ends the run now with `error` (a timeout, or the worker giving up): the function's signal aborts. */
  stop(error: Error): void {
    if (this.#stopped) return;
    this.#stopped = error;
    this.#controller?.abort(error);
    this.#finish(false, error);
  }

  #finish(ok: boolean, value: unknown): void {
    const end = this.#end;
    if (!end) return;
    // the first ending counts: a function that settles after its timeout changes nothing
    this.#end = undefined;
    this.#deadline?.cancel();
    end(ok, value, performance.now() - this.#started);
  }
}

/** The error a run gets when its worker stops waiting for it. */
export function givenUp(): VisqError {
  return new VisqError('The worker stopped waiting for this run', 'ERR_VISQ_CLOSED');
}
