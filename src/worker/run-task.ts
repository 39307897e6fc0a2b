/**
 * One delivery of a task queue, taken through the task state machine: start it (or
 * discard it when it was cancelled, already finished, or has no runs left), run it
 * under its timeout, then record done / retry / failed and settle the queue item.
 *
 * The order of writes is chosen so a crash between any two leaves a state the next
 * delivery handles: the status record is written before the queue item is settled, and
 * an at-most-once task is removed from the queue before it starts.
 */
import type { Delivery } from '../data/options.js';
import { VisqError } from '../errors.js';
import { runInTaskContext } from '../tasks/context.js';
import { PENDING_KEEP_MS, type AppCore, type RegisteredTask } from '../tasks/core.js';
import type { TaskMessage } from '../tasks/message.js';
import type { TaskSettings } from '../tasks/options.js';
import type { StoreBatcher } from './batcher.js';
import type { DeadInfo, DoneInfo, FailedInfo, RunInfo } from './events.js';

/** What the runner reports back to its worker. */
export interface RunHooks {
  started(info: RunInfo): void;
  done(info: DoneInfo): void;
  failed(info: FailedInfo): void;
  dead(info: DeadInfo): void;
  /** Retries a bookkeeping write until it succeeds or the worker gives up. */
  persist<R>(what: string, write: () => Promise<R>): Promise<R>;
  /** The store calls, batched with those of the other runs of this turn. */
  readonly store: StoreBatcher;
  /** Keeps refreshing a running task's lease with `visTimeout`; `undefined` stops. */
  holdLease(queue: string, lease: string, visTimeout: number | undefined): void;
  /** Aborted when the worker stops waiting for running tasks. */
  readonly giveUp: AbortSignal;
}

/** A run that timed out. */
export class TaskTimeoutError extends VisqError {
  constructor(task: string, seconds: number) {
    super(`Task ${task} ran past its timeout of ${seconds} s`, 'ERR_VISQ_TIMEOUT');
  }
}

function asError(value: unknown): Error {
  return value instanceof Error ? value : new Error(String(value));
}

/** Runs `fn(...args)` until it settles, the timeout passes or the worker gives up. */
async function runBounded(
  registered: RegisteredTask,
  message: TaskMessage,
  info: RunInfo,
  timeoutSeconds: number,
  giveUp: AbortSignal,
): Promise<unknown> {
  const controller = new AbortController();
  const onGiveUp = (): void => controller.abort(new VisqError('The worker stopped waiting for this run', 'ERR_VISQ_CLOSED'));
  giveUp.addEventListener('abort', onGiveUp, { once: true });
  let timer: NodeJS.Timeout | undefined;
  try {
    const run = Promise.resolve().then(() =>
      runInTaskContext({ ...info, signal: controller.signal }, () =>
        (registered.fn as (...args: unknown[]) => unknown)(...message.a),
      ),
    );
    const stopped = new Promise<never>((_, reject) => {
      controller.signal.addEventListener('abort', () => reject(asError(controller.signal.reason)), { once: true });
      if (timeoutSeconds > 0) {
        timer = setTimeout(
          () => controller.abort(new TaskTimeoutError(registered.name, timeoutSeconds)),
          Math.ceil(timeoutSeconds * 1000),
        );
      }
    });
    return await Promise.race([run, stopped]);
  } finally {
    clearTimeout(timer);
    giveUp.removeEventListener('abort', onGiveUp);
  }
}

/** Moves a task whose runs are spent to the dead-letter queue (`useDead`) or drops it. */
async function settleSpent(
  queue: string,
  message: TaskMessage,
  lease: string,
  atMostOnce: boolean,
  useDead: boolean,
  hooks: RunHooks,
): Promise<void> {
  if (!atMostOnce) {
    await hooks.persist('a dead letter', () => hooks.store.fail(queue, lease, useDead));
  } else if (useDead) {
    // the item left the queue before its run: the dead letter is a copy of it
    await hooks.persist('a dead letter', () => hooks.store.putDead(queue, message));
  }
}

/**
 * Takes one delivery of a task message through its run. Resolves `true` if the task
 * ran (or was failed for good), `false` if the delivery was discarded without a run.
 */
export async function runDelivery(
  core: AppCore,
  registered: RegisteredTask,
  delivery: Delivery<TaskMessage>,
  workerTimeout: number,
  hooks: RunHooks,
): Promise<boolean> {
  const message = delivery.item;
  const settings: TaskSettings = registered.settings;
  const queue = settings.queue;
  const base = core.base(queue);
  const lease = delivery.lease;
  const store = hooks.store;
  const atMostOnce = settings.visTimeout === 0;
  const finishedKeepMs = core.finishedKeepMs(settings);

  if (atMostOnce) {
    // removed before it starts, so that no failure of this worker can run it twice
    if (!(await hooks.persist('taking an at-most-once task', () => store.take(queue, lease)))) return false;
  } else {
    const kept = await hooks.persist('a lease refresh', () => store.refresh(queue, lease, settings.visTimeout));
    if (!kept) return false;
  }

  // the record numbers the runs: a delivery a dead worker fetched but never started
  // is not charged one
  const start = await hooks.persist('a task start', () =>
    store.transition(base, {
      taskId: message.i,
      task: registered.name,
      to: 'started',
      attempt: 0,
      attempts: settings.attempts,
      firstDelivery: delivery.delivery === 1,
      lease,
      item: delivery.id,
      keepMs: PENDING_KEEP_MS + Math.ceil(settings.visTimeout * 1000),
      spentKeepMs: finishedKeepMs,
    }),
  );
  const info: RunInfo = {
    taskId: message.i,
    task: registered.name,
    queue: settings.queue,
    attempt: start.attempt,
    attempts: settings.attempts,
  };
  if (!start.applied) {
    // cancelled, or already finished by an earlier holder: discard this delivery
    if (!atMostOnce) await hooks.persist('discarding a finished task', () => store.finish(queue, lease));
    return false;
  }
  if (start.state === 'failed') {
    // a worker died (or hung past its lease) during the last allowed run
    await settleSpent(queue, message, lease, atMostOnce, settings.useDead, hooks);
    hooks.dead({ ...info, deadLettered: settings.useDead });
    return true;
  }
  const attempt = start.attempt;

  if (!atMostOnce) hooks.holdLease(queue, lease, settings.visTimeout);
  hooks.started(info);
  const startedAt = performance.now();
  let result: unknown;
  let failure: Error | undefined;
  try {
    result = await runBounded(registered, message, info, settings.timeout || workerTimeout, hooks.giveUp);
  } catch (error) {
    failure = asError(error);
  }
  // the run's own time, for the metrics and the done event (not the bookkeeping after it)
  const runMs = performance.now() - startedAt;

  if (!failure) {
    let resultJson: string | undefined;
    if (settings.saveResults > 0 && result !== undefined) {
      try {
        resultJson = JSON.stringify(result);
      } catch (error) {
        failure = new VisqError(`Task ${registered.name} returned a value JSON cannot encode`, 'ERR_VISQ_TASK', {
          cause: error,
        });
      }
    }
    if (!failure) {
      await hooks.persist('a task result', () =>
        store.transition(base, {
          taskId: message.i,
          task: registered.name,
          to: 'done',
          attempt,
          keepMs: finishedKeepMs,
          runMs,
          ...(resultJson === undefined ? {} : { result: resultJson, resultMs: Math.ceil(settings.saveResults * 1000) }),
        }),
      );
      hooks.holdLease(queue, lease, undefined);
      if (!atMostOnce) await hooks.persist('a task done', () => store.finish(queue, lease));
      hooks.done({ ...info, result, ms: runMs });
      return true;
    }
  }

  const error = failure;
  const willRetry = attempt < settings.attempts;
  hooks.holdLease(queue, lease, undefined);
  if (willRetry) {
    const state = settings.retryDelay > 0 ? 'delayed' : 'queued';
    await hooks.persist('a task retry', () =>
      store.transition(base, {
        taskId: message.i,
        task: registered.name,
        to: state,
        attempt,
        keepMs: PENDING_KEEP_MS + Math.ceil(settings.retryDelay * 1000),
        error: error.message,
        runMs,
        // the failed run's item, for the recent failures (an at-most-once retry is a new item)
        item: delivery.id,
      }),
    );
    if (atMostOnce) {
      // the item was removed before the run, so the retry is a new item (the record
      // keeps counting the runs)
      await hooks.persist('a task retry', () => store.put(queue, message, settings.retryDelay, message.r ?? 0));
    } else {
      await hooks.persist('a task retry', () => store.release(queue, lease, settings.retryDelay));
    }
    hooks.failed({ ...info, error, willRetry });
    return true;
  }

  await hooks.persist('a task failure', () =>
    store.transition(base, {
      taskId: message.i,
      task: registered.name,
      to: 'failed',
      attempt,
      keepMs: finishedKeepMs,
      error: error.message,
      runMs,
      item: delivery.id,
    }),
  );
  await settleSpent(queue, message, lease, atMostOnce, settings.useDead, hooks);
  hooks.failed({ ...info, error, willRetry });
  hooks.dead({ ...info, deadLettered: settings.useDead });
  return true;
}
