/**
 * EnqueuedTask: a handle on one enqueued task, usable from any process that knows its
 * id: wait for it, read its status or result, cancel it.
 */
import * as check from '../validate.js';
import type { AppCore } from './core.js';
import { waitOptions, type WaitOptions } from './options.js';
import { FINAL_STATES, transition, type TaskEvent, type TaskRecord, type TaskStatus } from './records.js';

function reached(record: TaskRecord | undefined, until: 'done' | 'started'): boolean {
  if (!record) return false;
  if (FINAL_STATES.has(record.state)) return true;
  return until === 'started' && record.state === 'started';
}

/**
 * A task that was enqueued.
 * @typeParam R - what the task function resolves to.
 */
export class EnqueuedTask<R> {
  /** The task id (a UUID); `app.enqueuedTask(id, { queue })` rebuilds the handle elsewhere. */
  readonly id: string;
  /** The task's registered name. */
  readonly taskName: string;
  /** The task queue it runs on. */
  readonly queue: string;

  readonly #core: AppCore;

  /** @internal Use `task.execute()` or `app.enqueuedTask()`. */
  constructor(core: AppCore, id: string, taskName: string, queue: string) {
    this.#core = core;
    this.id = id;
    this.taskName = taskName;
    this.queue = queue;
  }

  /**
   * Waits up to `seconds` for the task to finish (`until: 'done'`, the default: done,
   * failed or cancelled) or to start (`until: 'started'`). Resolves `true` once it has,
   * `false` on timeout or abort. Works across processes; never polls (task events come
   * by pub/sub, and the record is read again after every event).
   */
  async wait(seconds: number, opts?: WaitOptions): Promise<boolean> {
    const waitMs = check.toMs(check.seconds('seconds', seconds));
    const { until, signal } = waitOptions(opts);
    const base = this.#core.base(this.queue);
    let wake: (() => void) | undefined;
    const stop = await this.#core.records.listen(base, (event: TaskEvent) => {
      if (event.kind === 'reconnected' || event.taskId === this.id) wake?.();
    });
    const deadline = performance.now() + waitMs;
    try {
      for (;;) {
        // listening started before this read, so a change after it cannot be missed
        let woken = false;
        const changed = new Promise<void>((resolve) => {
          wake = () => {
            woken = true;
            resolve();
          };
        });
        if (reached(await this.#core.records.read(base, this.id), until)) return true;
        const left = deadline - performance.now();
        if (left <= 0 || signal?.aborted) return false;
        if (!woken) await sleepUntil(changed, left, signal);
        if (signal?.aborted) return false;
      }
    } finally {
      await stop();
    }
  }

  /** The task's state now; `'unknown'` when no record is kept (never enqueued here, or expired). */
  async status(): Promise<TaskStatus> {
    const record = await this.#core.records.read(this.#core.base(this.queue), this.id);
    return record?.state ?? 'unknown';
  }

  /** The saved return value (tasks with `saveResults`), or `undefined` if none is kept. */
  async result(): Promise<R | undefined> {
    const json = await this.#core.records.result(this.#core.base(this.queue), this.id);
    return json === undefined ? undefined : (JSON.parse(json) as R);
  }

  /**
   * Cancels the task if it has not started (or is waiting to be retried). Resolves
   * `true` if it will not run (again), `false` if it is running or already final.
   */
  async cancel(): Promise<boolean> {
    const { applied } = await transition(this.#core.records, this.#core.base(this.queue), {
      taskId: this.id,
      task: this.taskName,
      to: 'cancelled',
      attempt: 0,
      keepMs: this.#core.keepFinishedMs,
    });
    return applied;
  }

  /** The full status record, or `undefined`. */
  async record(): Promise<TaskRecord | undefined> {
    return this.#core.records.read(this.#core.base(this.queue), this.id);
  }
}

function sleepUntil(event: Promise<void>, ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
    void event.then(done);
  });
}
