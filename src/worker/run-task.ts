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
import type { DeadInfo, DoneInfo, FailedInfo, RunInfo } from './events.js';

/** What the runner reports back to its worker. */
export interface RunHooks {
  started(info: RunInfo): void;
  done(info: DoneInfo): void;
  failed(info: FailedInfo): void;
  dead(info: DeadInfo): void;
  /** Retries a bookkeeping write until it succeeds or the worker gives up. */
  persist<R>(what: string, write: () => Promise<R>): Promise<R>;
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

/** Takes one delivery of a task message through its run. */
export async function runDelivery(
  core: AppCore,
  registered: RegisteredTask,
  delivery: Delivery<TaskMessage>,
  workerTimeout: number,
  hooks: RunHooks,
): Promise<void> {
  const message = delivery.item;
  const settings: TaskSettings = registered.settings;
  const queue = core.queue(settings.queue);
  const base = core.base(settings.queue);
  const attempt = message.p + delivery.delivery;
  const info: RunInfo = {
    taskId: message.i,
    task: registered.name,
    queue: settings.queue,
    attempt,
    attempts: settings.attempts,
  };
  const leases = [delivery.lease];
  const atMostOnce = settings.visTimeout === 0;
  const finishedKeepMs = core.finishedKeepMs(settings);

  if (attempt > settings.attempts) {
    // a worker died (or hung past its lease) during the last run: the runs are spent
    await hooks.persist('a task failure', () =>
      core.records.transition(base, {
        taskId: message.i,
        task: registered.name,
        to: 'failed',
        attempt: attempt - 1,
        keepMs: finishedKeepMs,
        error: 'the worker running the last attempt stopped before it finished',
      }),
    );
    await hooks.persist('a dead letter', () => queue.failData(leases, { useDead: settings.useDead }));
    hooks.dead({ ...info, attempt: attempt - 1, deadLettered: settings.useDead });
    return;
  }

  if (atMostOnce) {
    // removed before it starts, so that no failure of this worker can run it twice
    if ((await hooks.persist('taking an at-most-once task', () => queue.doneData(leases))) === 0) return;
  } else {
    const kept = await hooks.persist('a lease refresh', () => queue.refreshData(leases, { visTimeout: settings.visTimeout }));
    if (kept.size === 0) return;
  }

  const start = await hooks.persist('a task start', () =>
    core.records.transition(base, {
      taskId: message.i,
      task: registered.name,
      to: 'started',
      attempt,
      keepMs: PENDING_KEEP_MS + Math.ceil(settings.visTimeout * 1000),
    }),
  );
  if (!start.applied) {
    // cancelled, or already finished by an earlier holder: discard this delivery
    if (!atMostOnce) await hooks.persist('discarding a finished task', () => queue.doneData(leases));
    return;
  }

  if (!atMostOnce) hooks.holdLease(settings.queue, delivery.lease, settings.visTimeout);
  hooks.started(info);
  const startedAt = performance.now();
  let result: unknown;
  let failure: Error | undefined;
  try {
    result = await runBounded(registered, message, info, settings.timeout || workerTimeout, hooks.giveUp);
  } catch (error) {
    failure = asError(error);
  }

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
        core.records.transition(base, {
          taskId: message.i,
          task: registered.name,
          to: 'done',
          attempt,
          keepMs: finishedKeepMs,
          ...(resultJson === undefined ? {} : { result: resultJson, resultMs: Math.ceil(settings.saveResults * 1000) }),
        }),
      );
      hooks.holdLease(settings.queue, delivery.lease, undefined);
      if (!atMostOnce) await hooks.persist('a task done', () => queue.doneData(leases));
      hooks.done({ ...info, result, ms: performance.now() - startedAt });
      return;
    }
  }

  const error = failure;
  const willRetry = attempt < settings.attempts;
  hooks.holdLease(settings.queue, delivery.lease, undefined);
  if (willRetry) {
    const state = settings.retryDelay > 0 ? 'delayed' : 'queued';
    await hooks.persist('a task retry', () =>
      core.records.transition(base, {
        taskId: message.i,
        task: registered.name,
        to: state,
        attempt,
        keepMs: PENDING_KEEP_MS + Math.ceil(settings.retryDelay * 1000),
        error: error.message,
      }),
    );
    if (atMostOnce) {
      // the item was removed before the run, so the retry is a new item that remembers the runs used
      await hooks.persist('a task retry', () =>
        queue.putData([{ ...message, p: attempt }], { delay: settings.retryDelay }),
      );
    } else {
      await hooks.persist('a task retry', () => queue.releaseData(leases, { delay: settings.retryDelay }));
    }
    hooks.failed({ ...info, error, willRetry });
    return;
  }

  await hooks.persist('a task failure', () =>
    core.records.transition(base, {
      taskId: message.i,
      task: registered.name,
      to: 'failed',
      attempt,
      keepMs: finishedKeepMs,
      error: error.message,
    }),
  );
  if (atMostOnce) {
    if (settings.useDead) await hooks.persist('a dead letter', () => queue.dead.putData([message]));
  } else {
    await hooks.persist('a dead letter', () => queue.failData(leases, { useDead: settings.useDead }));
  }
  hooks.failed({ ...info, error, willRetry });
  hooks.dead({ ...info, deadLettered: settings.useDead });
}
