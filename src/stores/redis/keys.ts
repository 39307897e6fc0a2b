/**
 * Redis key names of a queue. Every key of a queue, and of its dead-letter queue, starts
 * with the queue's key base `{prefix:name}` (see data/keys.ts), whose hash tag puts the
 * whole queue in one Cluster slot.
 */
import { deadBase } from '../../data/keys.js';

/** The roles of a queue's keys, in the order the scripts receive them (see lib/queue.lua). */
export const QUEUE_KEY_ROLES = [
  'meta',
  'ready',
  'sorted',
  'delayed',
  'ttl',
  'inflight',
  'owners',
  'leases',
  'entries',
  'signal',
] as const;

/** One role of a queue key. */
export type QueueKeyRole = (typeof QUEUE_KEY_ROLES)[number];

/** One key of the queue at `base`. */
export function queueKey(base: string, role: QueueKeyRole): string {
  return `${base}:${role}`;
}

/**
 * The registry of the queues under `prefix`: a set of names, written by each queue's first
 * put, so tools can list queues without scanning keys. Its hash tag is the prefix alone.
 */
export function registryKey(prefix: string): string {
  return `{${prefix}}:queues`;
}

/**
 * The keys of a queue's optional features (deduplicated puts, ordered groups), which only
 * the queue itself has (its dead-letter queue never dedupes or groups). Every script gets
 * them after the 20 queue keys, so that a feature's state is declared to the script
 * (Cluster, eviction) whether or not the call uses it; a queue that never uses a feature
 * never creates its key.
 */
export const FEATURE_KEY_ROLES = ['dedupe', 'dedupe-holders', 'group-items', 'group-ready', 'group-held'] as const;

/** One role of a feature key. */
export type FeatureKeyRole = (typeof FEATURE_KEY_ROLES)[number];

/**
 * The 25 keys every script receives: the queue's 10, its dead-letter queue's 10, then
 * the queue's 5 feature keys (see FEATURE_KEY_ROLES and lib/queue.lua).
 */
export function scriptKeys(base: string): string[] {
  const dead = deadBase(base);
  return [
    ...QUEUE_KEY_ROLES.map((role) => queueKey(base, role)),
    ...QUEUE_KEY_ROLES.map((role) => queueKey(dead, role)),
    ...FEATURE_KEY_ROLES.map((role) => `${base}:${role}`),
  ];
}

/**
 * The keys clear() deletes for the queue at `base`: its 25 script keys, then the 10 of a
 * dead-letter queue of its dead-letter queue, which no queue has (a dead-letter queue
 * never dead-letters) but which older versions could write; clear leaves none behind;
 * and a task queue's tasks hash and expiry list: the records of its tasks go with their items.
 */
export function clearKeys(base: string): string[] {
  const nested = deadBase(deadBase(base));
  return [...scriptKeys(base), ...QUEUE_KEY_ROLES.map((role) => queueKey(nested, role)), tasksKey(base), `${base}:expiry`];
}

/**
 * The keys every task script gets, after the queue's 25 script keys: the tasks hash
 * (records), the task metrics hash, the list that orders final records by expiry, and
 * the capped list of the latest failed runs.
 * See lib/tasks.lua.
 */
export function taskKeys(base: string): string[] {
  return [...scriptKeys(base), tasksKey(base), taskMetricsKey(base), `${base}:expiry`, failuresKey(base)];
}

/** The capped list of a queue's latest failed runs. */
export function failuresKey(base: string): string {
  return `${base}:task-failures`;
}

/** The task metrics of a queue, a hash (see app.taskMetrics). */
export function taskMetricsKey(base: string): string {
  return `${base}:task-metrics`;
}

/** The records of a queue's tasks, a hash (deleted with the queue by clear). */
export function tasksKey(base: string): string {
  return `${base}:tasks`;
}

/** A task's saved result, a string with a time to live. */
export function resultKey(base: string, taskId: string): string {
  return `${base}:result:${taskId}`;
}

/** The due times of a queue's periodic and cron tasks, a hash. */
export function schedulesKey(base: string): string {
  return `${base}:schedules`;
}

/** The pub/sub channel of a queue's task events. */
export function eventsChannel(base: string): string {
  return `${base}:task-events`;
}
