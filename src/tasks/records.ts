/**
 * The task layer's own small records, beside the task queues: one status record per
 * task, saved results, schedule due times, and task events for waiters. Every record of
 * a task queue lives under that queue's hash tag. Two implementations: Redis (Lua
 * scripts in src/stores/redis/scripts/tasks) and in-process (for the MemoryStore).
 */
import { VisqTypeError } from '../errors.js';

/** A state a task can be in; `unknown` when no record exists (never enqueued, or expired). */
export type TaskStatus = 'queued' | 'delayed' | 'started' | 'done' | 'failed' | 'cancelled' | 'unknown';

/** The states a record can hold. */
export type RecordState = Exclude<TaskStatus, 'unknown'>;

/** The final states: nothing moves a task out of them. */
export const FINAL_STATES: ReadonlySet<TaskStatus> = new Set(['done', 'failed', 'cancelled']);

/** A status record as stored. */
export interface TaskRecord {
  readonly state: RecordState;
  /** Runs started so far. */
  readonly attempt: number;
  readonly task: string;
  /**
   * The DataQueue item id the task's first run came from ('' until it first starts: the
   * record is written in the same round trip as the item, before the item's id is known).
   */
  readonly item: string;
  /** Store time (ms) of the last change. */
  readonly at: number;
  /** The last failure's message, if any. */
  readonly error?: string;
  readonly hasResult: boolean;
}

/** A change asked of the state machine (see src/stores/redis/scripts/tasks/task_transitions.lua). */
export interface Transition {
  readonly taskId: string;
  readonly task: string;
  readonly to: Exclude<RecordState, never>;
  /** The attempt the change is about (1 = first run); ignored for `started` (the record counts) and `cancelled`. */
  readonly attempt: number;
  /** How long to keep the record after this change, ms. */
  readonly keepMs: number;
  readonly error?: string;
  /** Result JSON to save with `done`. */
  readonly result?: string;
  readonly resultMs?: number;
  /** `started`: the runs the task allows in all. */
  readonly attempts?: number;
  /** `started`: whether this is the first delivery of the queue item (a redriven dead letter is one). */
  readonly firstDelivery?: boolean;
  /** `started`: how long to keep the record if the start finds the runs spent. */
  readonly spentKeepMs?: number;
  /** done, failed, or queued/delayed after a failure: how long the run took, ms. */
  readonly runMs?: number;
  /** `started`: the lease of the delivery being started (a repeated start is recognised by it). */
  readonly lease?: string;
  /**
   * The id of the queue item the change is about: for `started`, recorded if the record
   * has none yet; for a failure (`failed`, or a retry), noted in the recent failures.
   */
  readonly item?: string;
}

/**
 * A run that failed, as the task-record store keeps the latest of them per task queue
 * (at most {@link FAILURES_KEPT}, newest first), for the dashboard.
 */
export interface TaskFailure {
  readonly taskId: string;
  /** The task name. */
  readonly task: string;
  /** The id of the queue item whose run failed; '' when unknown. */
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

/** Failures kept per task queue (the Redis list is trimmed to this length). Same as the script. */
export const FAILURES_KEPT = 50;

/** Longest error text a kept failure holds, in bytes of UTF-8. Same as the script. */
export const FAILURE_ERROR_BYTES = 1000;

/** `text` cut to at most `bytes` bytes of UTF-8, as Lua's string.sub cuts it and a client decodes it. */
export function cutUtf8(text: string, bytes: number): string {
  const encoded = Buffer.from(text, 'utf8');
  return encoded.length <= bytes ? text : encoded.subarray(0, bytes).toString('utf8');
}

/** Outcome of a transition. */
export interface TransitionResult {
  readonly applied: boolean;
  /** The state after the call ('' when there is no record). */
  readonly state: RecordState | '';
  readonly attempt: number;
}

/** A new task's first record. */
export interface NewTask {
  readonly taskId: string;
  readonly task: string;
}

/** Outcome of a schedule claim. */
export interface ScheduleClaim {
  readonly claimed: boolean;
  /** The stored due time after the call, ms; -1 when none is stored. */
  readonly due: number;
  /** Store time of the call, ms. */
  readonly now: number;
}

/** The schedule operations: see src/stores/redis/scripts/tasks/schedule_claim.lua. */
export type ScheduleMode = 'read' | 'init' | 'fire' | 'move';

/**
 * A task event of a queue: a task changed state, or the event feed reconnected (events
 * may have been missed, so listeners should re-read what they wait for).
 */
export type TaskEvent =
  | { readonly kind: 'change'; readonly taskId: string; readonly state: RecordState }
  | { readonly kind: 'reconnected' };

/** Called with each task event of a queue. */
export type TaskEventListener = (event: TaskEvent) => void;

/** The records of the task queues of one app, keyed by the queue's key base `{prefix:queue}`. */
export interface TaskRecordStore {
  /** Writes the first record of tasks that have none (see task_create.lua). */
  create(base: string, state: 'queued' | 'delayed', keepMs: number, tasks: readonly NewTask[]): Promise<number>;
  /** Deletes the records of tasks whose enqueue failed after their records were written. */
  discard(base: string, taskIds: readonly string[]): Promise<void>;
  /** Applies the changes of tasks of one queue in one step, each if the state machine allows it. */
  transitionMany(base: string, changes: readonly Transition[]): Promise<TransitionResult[]>;
  read(base: string, taskId: string): Promise<TaskRecord | undefined>;
  /** The saved result JSON, if it is still kept. */
  result(base: string, taskId: string): Promise<string | undefined>;
  schedule(base: string, name: string, mode: ScheduleMode, seenDue: number, nextDue: number): Promise<ScheduleClaim>;
  /**
   * The task metrics hash of a queue (see task_transitions.lua): field name -> count,
   * e.g. "send|started", "send|le|100", "send|ms".
   */
  taskMetrics(base: string): Promise<Record<string, number>>;
  /**
   * The latest failed runs of the queue's tasks, newest first, at most `count` (of the
   * {@link FAILURES_KEPT} kept): each applied transition to `failed`, or to
   * `queued`/`delayed` with an error (a retry), adds one.
   */
  recentFailures(base: string, count: number): Promise<TaskFailure[]>;
  /** Listens to the task events of one queue; resolves once listening, to a stop function. */
  listen(base: string, listener: TaskEventListener): Promise<() => Promise<void>>;
  /** Releases connections the record store opened. */
  close(): Promise<void>;
}

/**
 * A store that keeps task records beside its queues: every store visq ships. The task
 * layer reaches a store's records only through this, so a new store brings its own.
 */
export interface TaskRecordsProvider {
  /** A new record store for one app; the app closes it. */
  taskRecords(): TaskRecordStore;
}

/** The task records of `store`, or a TypeError naming `name` when the store keeps none. */
export function taskRecordsOf(name: string, store: object): TaskRecordStore {
  if (typeof (store as Partial<TaskRecordsProvider>).taskRecords !== 'function') {
    throw new VisqTypeError(`Expected \`${name}\` to be a store that can keep task records`);
  }
  return (store as TaskRecordsProvider).taskRecords();
}

export function taskKey(base: string, taskId: string): string {
  return `${base}:task:${taskId}`;
}

export function resultKey(base: string, taskId: string): string {
  return `${base}:result:${taskId}`;
}

export function schedulesKey(base: string): string {
  return `${base}:schedules`;
}

export function taskMetricsKey(base: string): string {
  return `${base}:task-metrics`;
}

/** The capped list of a queue's latest failed runs (see {@link TaskRecordStore.recentFailures}). */
export function failuresKey(base: string): string {
  return `${base}:task-failures`;
}

/** The pub/sub channel of a queue's task events. */
export function eventsChannel(base: string): string {
  return `${base}:task-events`;
}

/** One change through {@link TaskRecordStore.transitionMany}. */
export async function transition(records: TaskRecordStore, base: string, change: Transition): Promise<TransitionResult> {
  const [result] = await records.transitionMany(base, [change]);
  return result as TransitionResult;
}
