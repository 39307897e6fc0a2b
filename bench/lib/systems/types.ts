/** The small surface every compared system offers the agent: a data queue and a task queue. */
import type { Payload, ServerAddress, TaskArgs, TaskProfile } from '../protocol.js';

/** Items read under a lease (or a pending-entries list), not yet finished. */
export interface Batch {
  readonly items: readonly Payload[];
  /** Finishes the items for good (done / XACK + XDEL). */
  ack(): Promise<void>;
}

export interface DataClient {
  /**
   * Puts the items in one call (one round trip, or one pipeline); `groups`, where the
   * system has ordered groups (visq), gives each item's group.
   */
  put(items: readonly Payload[], groups?: readonly string[]): Promise<void>;
  /** Puts the items in one deduplicated call, each with a key never used before (visq only). */
  putDeduped?(items: readonly Payload[]): Promise<void>;
  /**
   * Reads up to `count` items with a visibility timeout; `blockMs` > 0 waits that long
   * for one to arrive. Absent for systems without a batched read (BullMQ, bee-queue).
   */
  get?(count: number, blockMs?: number): Promise<Batch>;
  /**
   * For systems that consume by running a worker rather than by reads (graphile-worker):
   * takes items `batch` at a time until the queue is empty; resolves how many it took.
   */
  drain?(batch: number): Promise<number>;
  close(): Promise<void>;
}

export interface WorkerHooks {
  /** Called in the task function, before it returns. */
  started?(args: TaskArgs): void;
  /** Called once a run is recorded as finished. */
  finished(): void;
  /** A run failed or the worker reported trouble: the benchmark is wrong, not slow. */
  failed(error: Error): void;
}

export interface TaskWorker {
  /** Starts taking work (a worker is created idle, in the untimed prepare step). */
  start(): void;
  close(): Promise<void>;
}

export interface TaskClient {
  /** Enqueues one `add` run per element: one call for one element, one bulk call for more. */
  push(argsList: readonly TaskArgs[]): Promise<void>;
  worker(concurrency: number, hooks: WorkerHooks): Promise<TaskWorker>;
  close(): Promise<void>;
}

export interface SystemDriver {
  /** `consumer` names this agent's consumer where the system needs one (Streams). */
  data(server: ServerAddress, consumer: number): Promise<DataClient>;
  /** The `add` task configured by `profile`, for pushing and for workers alike. */
  tasks?(server: ServerAddress, profile: TaskProfile): Promise<TaskClient>;
}

/** The queue (or stream) name every system uses. */
export const DATA_QUEUE = 'bench';
export const TASK_QUEUE = 'tasks';
