/**
 * EnqueuedTask: a handle on one enqueued task, usable from any process that knows its
 * id: wait for it, read its status or result, cancel it.
 */
import { TIMED_OUT, within } from '../sleep.js';
import * as check from '../validate.js';
import type { AppCore } from './core.js';
import { waitOptions, type WaitOptions } from './options.js';
import { FINAL_STATES, type TaskEvent, type TaskRecord, type TaskStatus } from './records.js';

/** How long the first read of a wait may take, whatever the wait's own length, ms. */
const FIRST_READ_MS = 1000;

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
  /** The task id (22 random characters of base64url), also the id of its queue item; `app.enqueuedTask(id, { queue })` rebuilds the handle elsewhere. */
  readonly id: string;
  /** The task's registered name. */
  readonly taskName: string;
  /** The task queue it runs on. */
  readonly queue: string;
  /**
   * True when `execute(args, { dedupe })` found the key held: nothing was enqueued, and
   * `id` is the holding task's (waiting on this handle waits for that task). False otherwise.
   */
  readonly duplicate: boolean;

  readonly #core: AppCore;

  /** @internal Use `task.execute()` or `app.enqueuedTask()`. */
  constructor(core: AppCore, id: string, taskName: string, queue: string, duplicate = false) {
    this.#core = core;
    this.id = id;
    this.taskName = taskName;
    this.queue = queue;
    this.duplicate = duplicate;
  }

  /**
   * Waits up to `seconds` for the task to finish (`until: 'done'`, the default: done,
   * failed or cancelled) or to start (`until: 'started'`). Resolves `true` once it has,
   * `false` on timeout or abort: never later than `seconds` (or 1 s, for the first read of
   * the record, whichever is longer), even when the store cannot be reached. Works across
   * processes; never polls (task events come by pub/sub, and the record is read again
   * after every event).
   * @throws ClosedError once the app is closed.
   */
  async wait(seconds: number, opts?: WaitOptions): Promise<boolean> {
    const waitMs = check.toMs(check.seconds('seconds', seconds));
    const { until, signal } = waitOptions(opts);
    this.#core.ensureOpen();
    const base = this.#core.base(this.queue);
    const deadline = performance.now() + waitMs;
    const left = (): number => deadline - performance.now();
    let wake: (() => void) | undefined;
    let woken = false;
    // the first read goes out at once, beside the subscription: a finished task needs no more
    const first = this.#core.tasks.read(base, this.id);
    const listening = this.#core.tasks.listen(base, (event: TaskEvent) => {
      if (event.kind === 'reconnected' || event.taskId === this.id) {
        woken = true;
        wake?.();
      }
    });
    try {
      // every step races the deadline, so a store that cannot be reached never holds the
      // caller past it; the first read alone may take up to FIRST_READ_MS, so that even a
      // wait of 0 s tells a finished task
      const firstRecord = await within(first, Math.max(left(), FIRST_READ_MS), signal);
      if (firstRecord === TIMED_OUT) return false;
      if (reached(firstRecord, until)) return true;
      if ((await within(listening, left(), signal)) === TIMED_OUT) return false;
      for (;;) {
        // listening started before this read, so a change after it cannot be missed
        woken = false;
        const record = await within(this.#core.tasks.read(base, this.id), left(), signal);
        if (record === TIMED_OUT) return false;
        if (reached(record, until)) return true;
        if (woken) continue;
        const changed = new Promise<void>((resolve) => {
          wake = resolve;
        });
        if ((await within(changed, left(), signal)) === TIMED_OUT) return false;
      }
    } finally {
      // stopping never holds the caller either: it finishes in the background
      first.catch(() => undefined);
      void listening.then((stop) => stop()).catch(() => undefined);
    }
  }

  /** The task's state now; `'unknown'` when no record is kept (never enqueued here, or expired). */
  async status(): Promise<TaskStatus> {
    return (await this.record())?.state ?? 'unknown';
  }

  /** The saved return value (tasks with `saveResults`), or `undefined` if none is kept. */
  async result(): Promise<R | undefined> {
    this.#core.ensureOpen();
    const json = await this.#core.tasks.result(this.#core.base(this.queue), this.id);
    return json === undefined ? undefined : (JSON.parse(json) as R);
  }

  /**
   * Cancels the task if it has not started (or is waiting to be retried). Resolves
   * `true` if it will not run (again), `false` if it is running or already final.
   */
  async cancel(): Promise<boolean> {
    this.#core.ensureOpen();
    return this.#core.tasks.cancel(this.#core.base(this.queue), this.id, this.#core.keepFinishedMs);
  }

  /** The full status record, or `undefined`. */
  async record(): Promise<TaskRecord | undefined> {
    this.#core.ensureOpen();
    return this.#core.tasks.read(this.#core.base(this.queue), this.id);
  }
}
