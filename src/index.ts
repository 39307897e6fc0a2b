/**
 * visq: an SQS-style data queue with visibility timeouts on Redis, and a thin task layer.
 * Public exports only; everything else is internal.
 * @module
 */
export { DataQueue, type StoreLike } from './data/queue.js';
export type {
  DataQueueOptions,
  Delivery,
  GetOptions,
  PutOptions,
  QueueStats,
  RefreshOptions,
  ReleaseOptions,
  ReleaseResult,
  QueueSettings,
} from './data/options.js';
export {
  ClosedError,
  CorruptRecordError,
  StoreError,
  StoreFullError,
  VisqError,
  VisqRangeError,
  VisqTypeError,
  type VisqErrorCode,
} from './errors.js';
export type { QueueStore, QueueBackend } from './data/backend.js';
export type { RedisConnection } from './scripts/loader.js';
export { VERSION } from './version.js';
