/**
 * The task layer's store seam: what a store does for task queues, each step atomic in the
 * store. A task is a DataQueue item of its task queue (leases, attempts, dead letters and
 * redrive are the data queue's) whose item id is its task id, plus a status record beside
 * the queue. A store may fuse the data-queue step and the record change into one call, and
 * does: enqueue writes items and records together, a claim reads items and starts them, a
 * settle finishes runs (done, saved result, retry, failure with its dead letter) in one go.
 *
 * Keys of a queue are its key base `{prefix:queue}` (data/keys.ts). Times are ms.
 */
import type { DedupeRequest, PutResult } from '../data/dedupe.js';
import type { ItemMeta } from '../data/backend.js';
import type { LimitedBy, ReadLimits } from '../data/limits.js';
import type { SqlClient } from '../data/options.js';
import { VisqTypeError } from '../errors.js';
import type { RecordState, TaskEventListener, TaskFailure, TaskRecord } from './records.js';

/** What a store needs to know of a registered task to start and finish its runs. */
export interface TaskSpec {
  readonly name: string;
  /** Runs allowed in all, the first included. */
  readonly attempts: number;
  /**
   * How long a running task's lease lasts, ms; 0 for an at-most-once task, whose item is
   * held under the worker's lease while it runs and is never run again once its worker
   * has died.
   */
  readonly visTimeoutMs: number;
  /** Dead-letter the task once its runs are spent (else it is dropped). */
  readonly useDead: boolean;
  /** How long the record of a finished task is kept, ms. */
  readonly finishedKeepMs: number;
  /** How long a saved result is kept, ms (0: results are not saved). */
  readonly resultMs: number;
  /** How long a failed run waits before it is tried again, ms. */
  readonly retryDelayMs: number;
}

/** One task to enqueue: its id (the item id too) and its item, the task message's JSON. */
export interface NewTask {
  readonly taskId: string;
  readonly payload: string;
}

/** Tasks of one name to enqueue in one atomic step (up to 1000). */
export interface EnqueueRequest {
  readonly task: string;
  readonly tasks: readonly NewTask[];
  readonly delayMs: number;
  readonly priority: number;
  /** The items' metadata, the same for all (see data/backend.ts `ItemMeta`); absent for none. */
  readonly meta?: ItemMeta;
  /**
   * The caller's transaction to write in (`execute(args, { db })`); only given to a store
   * that is `transactional` (see data/backend.ts QueueStore), whose step then takes effect
   * when that transaction commits.
   */
  readonly db?: SqlClient;
}

/**
 * How a claim reads: up to `count` items under the worker's lease, of which the first
 * `start` are started at once (their records move to `started`, a run is counted).
 */
export interface ClaimRequest {
  /** Items to read, 1..1000. */
  readonly count: number;
  /** How many of them to start now, 0..count. */
  readonly start: number;
  /** The worker's hold lease for items not started and for at-most-once runs, ms (> 0). */
  readonly leaseMs: number;
  /** Names the claim: the same claim sent again (a client resending after a reconnect) returns what it claimed, live. */
  readonly token: string;
  /** The tasks registered for the queue. */
  readonly specs: readonly TaskSpec[];
  /** The task queue's rate limit and in-flight cap (data/limits.ts); absent for none. */
  readonly limits?: ReadLimits | undefined;
}

/**
 * What a claim did with one item:
 * - `started`: run it now (its record says started, `attempt` is this run);
 * - `held`: not started; start it later with a `start` settle op;
 * - `unknown`: no record to start from (a redriven dead letter, an item put by hand, a
 *   task of a name not in the specs): decode it, then start, discard or fail it;
 * - `spent`: its last allowed run died with its worker (or an at-most-once run did): fail it.
 * Cancelled tasks and tasks already finished are discarded by the claim itself and not returned.
 */
export type ClaimKind = 'started' | 'held' | 'unknown' | 'spent';

/** One item a claim handed to the worker. */
export interface ClaimedTask {
  readonly kind: ClaimKind;
  readonly lease: string;
  /** The item id: the task id, for tasks enqueued by `execute`. */
  readonly id: string;
  /** 1 for the item's first delivery. */
  readonly delivery: number;
  readonly payload: string;
  /** The item's metadata (the trace context of its enqueue), if it has any. */
  readonly meta?: ItemMeta;
  /** `started`: this run's number; `spent`: the last run's. */
  readonly attempt: number;
}

/** The result of one claim; `nextDueMs` and `cursor` as for a data read that found nothing. */
export interface ClaimResult {
  readonly tasks: ClaimedTask[];
  /** Ms until a delayed item or lease deadline comes due; -1 when none is pending. */
  readonly nextDueMs: number;
  /** Change cursor to block on when nothing was claimed. */
  readonly cursor: string;
  /** As a data read's (data/backend.ts ReadResult.limited): a pause or a limit held the claim back. */
  readonly limited?: LimitedBy;
}

/** A change a worker asks of the store about one delivery it holds. */
export type SettleOp =
  | {
      /** Start a held (or unknown) delivery: its record moves to started. */
      readonly kind: 'start';
      readonly lease: string;
      readonly taskId: string;
      readonly task: string;
      /** Whether this is the item's first delivery (a redriven dead letter starts afresh). */
      readonly firstDelivery: boolean;
    }
  | {
      /** The run returned: record done (with its result), item done. */
      readonly kind: 'done';
      readonly lease: string;
      readonly taskId: string;
      readonly task: string;
      readonly attempt: number;
      /** The result's JSON, saved for the spec's `resultMs` (a task with saveResults). */
      readonly result?: string;
      readonly runMs: number;
    }
  | {
      /** The run failed with runs left: record queued/delayed with the error, item visible again after the spec's retry delay. */
      readonly kind: 'retry';
      readonly lease: string;
      readonly taskId: string;
      readonly task: string;
      readonly attempt: number;
      readonly error: string;
      readonly runMs: number;
    }
  | {
      /** The task failed for good: record failed, item dead-lettered (spec's useDead) or dropped, together. */
      readonly kind: 'fail';
      readonly lease: string;
      readonly taskId: string;
      readonly task: string;
      readonly attempt: number;
      readonly error: string;
      /** -1 when no run ended here (a spent task found at its next delivery). */
      readonly runMs: number;
      /** Dead-letter whatever the spec says: an item that is not a task at all. */
      readonly forceDead?: boolean;
    }
  | {
      /** Drop a delivery without a run (a task already finished elsewhere). */
      readonly kind: 'discard';
      readonly lease: string;
    }
  | {
      /**
       * Give a delivery back at once, no attempt used, after `delayMs`; with `unstart`, a
       * start this lease made is taken back too (its run never began).
       */
      readonly kind: 'handBack';
      readonly lease: string;
      readonly taskId: string;
      readonly unstart: boolean;
      readonly delayMs: number;
    };

/** The outcome of one settle op. */
export interface SettleOutcome {
  /** Whether the change was made (a stale lease or a state that forbids it changes nothing). */
  readonly applied: boolean;
  /**
   * The record's state after an applied change ('' for a discard or hand-back); when
   * nothing changed, '' but for a failure sent again (the task already failed at that
   * run): 'failed', with the run's number.
   */
  readonly state: RecordState | '';
  /** For a start or a failure that applied: the run's number (0 otherwise). */
  readonly attempt: number;
  /** A failure that applied: the item went to the dead-letter queue. */
  readonly deadLettered?: boolean;
}

/** Outcome of a schedule claim. */
export interface ScheduleClaim {
  readonly claimed: boolean;
  /** The stored due time after the call, ms; -1 when none is stored. */
  readonly due: number;
  /** Store time of the call, ms. */
  readonly now: number;
}

/** The schedule operations: see stores/redis/scripts/tasks/schedule_claim.lua. */
export type ScheduleMode = 'read' | 'init' | 'fire' | 'move';

/** The task side of a store, for one app. */
export interface TaskStore {
  /**
   * Writes the items and their `queued`/`delayed` records, one atomic step for up to 1000
   * tasks. A task whose id already has a record (the same put sent again) is not put
   * twice. Returns, per task, whether it was written.
   */
  enqueue(base: string, request: EnqueueRequest): Promise<boolean[]>;
  /**
   * enqueue with dedupe (see data/dedupe.ts): a task whose key (`dedupe.keys[i]` for task
   * i, all different) a live item holds is not written; one answer per task, in order
   * (a duplicate carries the holder's id, a task sent again its own).
   */
  enqueueDeduped(base: string, request: EnqueueRequest, dedupe: DedupeRequest): Promise<PutResult[]>;
  /** Reads and starts tasks (see {@link ClaimRequest}). */
  claim(base: string, request: ClaimRequest): Promise<ClaimResult>;
  /**
   * Waits, without polling, until something is put after `cursor` or `timeoutMs` passes,
   * then claims. Resolves `undefined` when `signal` aborted the wait; a claim that ran
   * before the abort was seen is handed back first (its starts taken back).
   */
  waitThenClaim(base: string, cursor: string, timeoutMs: number, request: ClaimRequest, signal: AbortSignal): Promise<ClaimResult | undefined>;
  /** Applies the ops of one queue in one atomic step, each on its own merits. */
  settle(base: string, ops: readonly SettleOp[], specs: readonly TaskSpec[]): Promise<SettleOutcome[]>;
  /** Extends the leases of running or held deliveries to `leaseMs` from now; returns those extended. */
  refresh(base: string, leases: readonly string[], leaseMs: number): Promise<Set<string>>;
  read(base: string, taskId: string): Promise<TaskRecord | undefined>;
  /** The saved result JSON, if it is still kept. */
  result(base: string, taskId: string): Promise<string | undefined>;
  /** Cancels a queued or delayed task; true if it will not run (again). */
  cancel(base: string, taskId: string, keepMs: number): Promise<boolean>;
  schedule(base: string, name: string, mode: ScheduleMode, seenDue: number, nextDue: number): Promise<ScheduleClaim>;
  /** The task metrics of a queue: field name -> count, e.g. "send|started", "send|le|100", "send|ms". */
  taskMetrics(base: string): Promise<Record<string, number>>;
  /**
   * The latest failed runs of the queue's tasks, newest first, at most `count` (of the
   * FAILURES_KEPT kept): every run that failed, whether it is retried or the task failed
   * for good, and a spent task failed at its next delivery.
   */
  recentFailures(base: string, count: number): Promise<TaskFailure[]>;
  /** Listens to the task events of one queue; resolves once listening, to a stop function. */
  listen(base: string, listener: TaskEventListener): Promise<() => Promise<void>>;
  /** Releases what the task store opened (event connections); never the caller's. */
  close(): Promise<void>;
}

/**
 * A store that can serve task queues: every store visq ships. The task layer reaches a
 * store only through this, so a new store brings its own task side.
 */
export interface TaskStoreProvider {
  /** A new task store for one app; the app closes it. */
  taskStore(): TaskStore;
}

/** The task side of `store`, or a TypeError naming `name` when the store has none. */
export function taskStoreOf(name: string, store: object): TaskStore {
  if (typeof (store as Partial<TaskStoreProvider>).taskStore !== 'function') {
    throw new VisqTypeError(`Expected \`${name}\` to be a store that can serve task queues`);
  }
  return (store as TaskStoreProvider).taskStore();
}
