/**
 * What the task layer keeps of each task beside its queue item: a status record (and a
 * saved result), read by `EnqueuedTask`, and the task events that wake waiters. Stores
 * keep them (see task-store.ts); this module holds their public shape.
 */

/** A state a task can be in; `unknown` when no record exists (never enqueued, or expired). */
export type TaskStatus = 'queued' | 'delayed' | 'started' | 'done' | 'failed' | 'cancelled' | 'unknown';

/** The states a record can hold. */
export type RecordState = Exclude<TaskStatus, 'unknown'>;

/** The final states: nothing moves a task out of them (but a redrive of its dead letter). */
export const FINAL_STATES: ReadonlySet<TaskStatus> = new Set(['done', 'failed', 'cancelled']);

/** A status record as stored. */
export interface TaskRecord {
  readonly state: RecordState;
  /** Runs started so far. */
  readonly attempt: number;
  /** The task's registered name. */
  readonly task: string;
  /** The id of the task's queue item: the task id itself (tasks enqueued with `execute`). */
  readonly item: string;
  /** Store time (ms since the epoch) of the last change. */
  readonly at: number;
  /** The last failure's message, if any. */
  readonly error?: string;
  /** Whether a result is saved (see `EnqueuedTask.result`). */
  readonly hasResult: boolean;
}

/**
 * A run that failed, as the store keeps the latest of them per task queue (at most
 * {@link FAILURES_KEPT}, newest first), for the dashboard.
 */
export interface TaskFailure {
  readonly taskId: string;
  /** The task name. */
  readonly task: string;
  /** The id of the queue item whose run failed: the task id. */
  readonly item: string;
  /** The failure's message, cut to at most {@link FAILURE_ERROR_BYTES} bytes of UTF-8. */
  readonly error: string;
  /** The run that failed (1 = the first run). */
  readonly attempt: number;
  /** `true`: the task failed for good (its runs spent); `false`: it will be retried. */
  readonly final: boolean;
  /** Store time of the failure, ms since the epoch. */
  readonly at: number;
}

/** Failures kept per task queue (the Redis list is trimmed to this length). Same as the scripts. */
export const FAILURES_KEPT = 50;

/** Longest error text a kept failure holds, in bytes of UTF-8. Same as the scripts. */
export const FAILURE_ERROR_BYTES = 1000;

/** `text` cut to at most `bytes` bytes of UTF-8, as Lua's string.sub cuts it and a client decodes it. */
export function cutUtf8(text: string, bytes: number): string {
  const encoded = Buffer.from(text, 'utf8');
  return encoded.length <= bytes ? text : encoded.subarray(0, bytes).toString('utf8');
}

/**
 * A task event of a queue: a task changed state, or the event feed reconnected (events
 * may have been missed, so listeners should re-read what they wait for).
 */
export type TaskEvent =
  | { readonly kind: 'change'; readonly taskId: string; readonly state: RecordState }
  | { readonly kind: 'reconnected' };

/** Called with each task event of a queue. */
export type TaskEventListener = (event: TaskEvent) => void;
