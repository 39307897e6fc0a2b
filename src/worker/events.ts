/** The events a worker emits, with their payloads. */

/** Which run of which task an event is about. */
export interface RunInfo {
  readonly taskId: string;
  readonly task: string;
  readonly queue: string;
  /** This run's number, 1 for the first. */
  readonly attempt: number;
  /** Runs allowed in all. */
  readonly attempts: number;
}

/** A run that finished. */
export interface DoneInfo extends RunInfo {
  readonly result: unknown;
  /** Run time in ms (this process's clock: a duration, not queue time). */
  readonly ms: number;
}

/** A run that failed (threw or timed out). */
export interface FailedInfo extends RunInfo {
  readonly error: Error;
  /** Whether another run will follow. */
  readonly willRetry: boolean;
}

/** A task whose runs are spent: moved to the dead-letter queue (`useDead`) or dropped. */
export interface DeadInfo extends RunInfo {
  readonly deadLettered: boolean;
}

/** Event name → listener arguments. */
export interface WorkerEvents {
  started: [RunInfo];
  done: [DoneInfo];
  failed: [FailedInfo];
  dead: [DeadInfo];
  /** A store or bookkeeping failure the worker survived (it retries by itself). */
  error: [Error];
  /** The worker stopped (after `close()` or its lifetime). */
  closed: [];
}
