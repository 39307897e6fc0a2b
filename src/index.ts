/**
 * visq: an SQS-style data queue with visibility timeouts on Redis, and a thin task layer.
 * Public exports only; everything else is internal.
 * @module
 */
export { DataQueue, type StoreLike } from './data/queue.js';
export type { DedupeHolder, DedupeKeys, DedupeOptions, DedupePutOptions, DedupeUntil, PutResult } from './data/dedupe.js';
export { listQueues } from './data/store.js';
export { MemoryStore } from './stores/memory/store.js';
export {
  PostgresStore,
  type PostgresConnectionOptions,
  type PostgresPool,
  type PostgresPoolClient,
  type PostgresStoreOptions,
} from './stores/postgres/store.js';
export { forward, type ForwardOptions, type ForwardProgress, type ForwardResult } from './data/forward.js';
export type {
  DataQueueOptions,
  Delivery,
  DoneOptions,
  FailOptions,
  ItemInfo,
  GetOptions,
  PutOptions,
  QueueStats,
  RefreshOptions,
  ReleaseOptions,
  ReleaseResult,
  QueueSettings,
  SqlClient,
} from './data/options.js';
export type { LimitedBy, LimitOptions, RateLimit, ReadLimits } from './data/limits.js';
export type {
  GroupOnDead,
  GroupOption,
  GroupQueueOptions,
  GroupSettings,
  GroupStats,
  GroupsOptions,
} from './data/groups.js';
export {
  ClosedError,
  CorruptRecordError,
  IncompatibleFormatError,
  StoreError,
  StoreFullError,
  VisqError,
  VisqRangeError,
  VisqTypeError,
  type VisqErrorCode,
} from './errors.js';
export type { QueueStore, QueueBackend } from './data/backend.js';
export { Visq, type TaskDecoratorOptions, type TaskMethodDecorator } from './app.js';
export { Task } from './tasks/task.js';
export { EnqueuedTask } from './tasks/enqueued.js';
export { taskContext, type TaskContext } from './tasks/context.js';
export type { TaskFailure, TaskRecord, TaskStatus } from './tasks/records.js';
export type { TaskMessage } from './tasks/message.js';
export type { TaskMetrics } from './tasks/metrics.js';
export type {
  CronTaskOptions,
  ExecuteOptions,
  PeriodicTaskOptions,
  TaskOptions,
  TaskSettings,
  VisqOptions,
  WaitOptions,
} from './tasks/options.js';
export { Worker } from './worker/worker.js';
export { TaskTimeoutError } from './worker/run-task.js';
export type { WorkerOptions, WorkerSettings } from './worker/options.js';
export { shardOf, type ShardOptions } from './worker/shard.js';
export type { DeadInfo, DoneInfo, FailedInfo, RunInfo, WorkerEvents } from './worker/events.js';
export { createMetricsHandler, type MetricsHandlerOptions } from './observe/metrics.js';
export { createDashboardHandler, type DashboardHandler, type DashboardOptions } from './observe/dashboard.js';
export type { QueueSourceOptions } from './observe/source.js';
export type { RedisConnection } from './data/store.js';
export { VERSION } from './version.js';
