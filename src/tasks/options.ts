/** Option types of the task layer, their defaults, and their checks. */
import type { DedupeOptions } from '../data/dedupe.js';
import { sqlClient, type SqlClient } from '../data/options.js';
import type { StoreLike } from '../data/store.js';
import type { RedisConnection } from '../data/store.js';
import * as check from '../validate.js';
import { limitSettings, type LimitOptions, type ReadLimits } from '../data/limits.js';

/**
 * Options of a task: how it is queued, retried and remembered. `rateLimit` and
 * `maxInflight` (see {@link LimitOptions}, docs/rate-limits.md) limit the claims of the
 * task's queue, for every task on it: tasks of one queue that set them must set the
 * same, and a task that leaves them out runs under what the others set.
 */
export interface TaskOptions extends LimitOptions {
  /** The task queue it runs on. Default `'default'`. */
  queue?: string;
  /** Total runs allowed, the first included (integer >= 1). Default 1. */
  attempts?: number;
  /**
   * Seconds a worker holds the task per run; if the worker dies or hangs past it, the
   * task runs again (using an attempt). `0` (default) runs it at most once per enqueue:
   * a task whose worker dies is not run again.
   */
  visTimeout?: number;
  /** Put tasks whose attempts are spent in the queue's dead-letter queue. Default `false`. */
  useDead?: boolean;
  /** Seconds to keep the return value for `EnqueuedTask.result()`. Default 0 (not kept). */
  saveResults?: number;
  /** Seconds a run may take before it counts as failed. Default 0 (no limit). */
  timeout?: number;
  /** Seconds before a failed run is tried again. Default 0 (at once). */
  retryDelay?: number;
  /**
   * With OpenTelemetry tracing on, how a run's `process` span is tied to the trace that
   * enqueued the task: `'link'` (default) starts a new trace per run, linked to the
   * enqueue's span, as the messaging semantic conventions recommend (a fan-out of
   * thousands of tasks does not make one huge trace); `'parent'` makes the run a child of
   * the enqueue's span, so that a request and the work it caused are one trace. See
   * docs/observability.md.
   */
  trace?: 'link' | 'parent';
}

/** Options of a periodic task: every `every` seconds, aligned to multiples of it since the epoch. */
export interface PeriodicTaskOptions extends TaskOptions {
  /** Seconds between runs (> 0). */
  every: number;
}

/** Options of a cron task. */
export interface CronTaskOptions extends TaskOptions {
  /** A cron expression, e.g. `'0 5 * * tue'` (5 fields, or 6 with seconds first). */
  cron: string;
  /** IANA time zone of the expression. Default `'UTC'`. */
  tz?: string;
}

/**
 * Options of `Task.execute` and `Task.executeMany`.
 * @typeParam A - the task's argument tuple (for a dedupe key function).
 */
export interface ExecuteOptions<A extends readonly unknown[] = readonly unknown[]> {
  /** Seconds before the task may start. Default 0. */
  delay?: number;
  /** Integer from -1000 to 1000; higher starts first. Default 0. */
  priority?: number;
  /**
   * Enqueue inside this open transaction (PostgresStore only): the task is invisible to
   * workers until it commits and never exists if it rolls back. Anything with
   * `query(text, values) => Promise<{ rows }>`, such as a `pg` client after `BEGIN` (see
   * docs/postgres.md for other drivers). Other stores reject the option with a TypeError.
   */
  db?: SqlClient;
  /**
   * Deduplicated enqueue (docs/dedupe.md): a task whose key a live task of its queue
   * holds is not enqueued; its handle has `duplicate: true` and the holder's id. `key`: a
   * string (every task of the call; for `executeMany` all but the first are duplicates),
   * `'content'` (equal task messages: same task and arguments), or a function of the
   * arguments and the index in `executeMany`.
   */
  dedupe?: DedupeOptions<A>;
}

/** Options of `EnqueuedTask.wait`. */
export interface WaitOptions {
  /**
   * `'done'` (default): until the task finished (done, failed or cancelled).
   * `'started'`: until it started or finished (rpqueue's semantics).
   */
  until?: 'done' | 'started';
  /** Ends the wait early; it then resolves `false`. */
  signal?: AbortSignal;
}

/** Options of `new Visq(...)`: exactly one of `redis` and `store`. */
export interface VisqOptions {
  /** An ioredis `Redis` or `Cluster` the caller owns; visq never closes it. */
  redis?: RedisConnection;
  /** A store, e.g. `new MemoryStore()` (an ioredis client is accepted here too). */
  store?: StoreLike;
  /** Key prefix. Default `'visq'`. */
  prefix?: string;
  /**
   * Seconds to keep the status of a finished task (for `status()` and late `wait()`s);
   * at least `saveResults`. Default 600.
   */
  keepFinished?: number;
}

/** A task's validated options. */
export interface TaskSettings {
  readonly queue: string;
  readonly attempts: number;
  readonly visTimeout: number;
  readonly useDead: boolean;
  readonly saveResults: number;
  readonly timeout: number;
  readonly retryDelay: number;
  readonly trace: 'link' | 'parent';
  /** The limits of the task's queue, if the task sets them. */
  readonly limits?: ReadLimits | undefined;
}

export const TASK_OPTION_KEYS = [
  'queue',
  'attempts',
  'visTimeout',
  'useDead',
  'saveResults',
  'timeout',
  'retryDelay',
  'trace',
  'rateLimit',
  'maxInflight',
] as const;

export function taskSettings(where: string, value: Partial<Record<string, unknown>>): TaskSettings {
  const limits = limitSettings(where, value.rateLimit, value.maxInflight);
  return {
    ...(limits ? { limits } : {}),
    queue: value.queue === undefined ? 'default' : check.text(`${where}.queue`, value.queue, { maxLength: 256, forbid: '}' }),
    attempts: value.attempts === undefined ? 1 : check.integerIn(`${where}.attempts`, value.attempts, 1, 1_000_000),
    visTimeout: value.visTimeout === undefined ? 0 : check.seconds(`${where}.visTimeout`, value.visTimeout),
    useDead: value.useDead === undefined ? false : check.boolean(`${where}.useDead`, value.useDead),
    saveResults: value.saveResults === undefined ? 0 : check.seconds(`${where}.saveResults`, value.saveResults),
    timeout: value.timeout === undefined ? 0 : check.seconds(`${where}.timeout`, value.timeout),
    retryDelay: value.retryDelay === undefined ? 0 : check.seconds(`${where}.retryDelay`, value.retryDelay),
    trace: traceMode(`${where}.trace`, value.trace),
  };
}

function traceMode(name: string, value: unknown): 'link' | 'parent' {
  if (value === undefined) return 'link';
  if (value !== 'link' && value !== 'parent') throw check.typeError(name, "'link' or 'parent'", value);
  return value;
}

export function executeOptions(value: unknown): { delay: number; priority: number; db: SqlClient | undefined; dedupe: unknown } {
  const opts = check.options('opts', value, ['delay', 'priority', 'db', 'dedupe']);
  return {
    delay: opts.delay === undefined ? 0 : check.seconds('opts.delay', opts.delay),
    priority: opts.priority === undefined ? 0 : check.integerIn('opts.priority', opts.priority, -1000, 1000),
    db: sqlClient('opts.db', opts.db),
    dedupe: opts.dedupe,
  };
}

export function waitOptions(value: unknown): { until: 'done' | 'started'; signal: AbortSignal | undefined } {
  const opts = check.options('opts', value, ['until', 'signal']);
  if (opts.until !== undefined && opts.until !== 'done' && opts.until !== 'started') {
    throw check.typeError('opts.until', "'done' or 'started'", opts.until);
  }
  return {
    until: (opts.until as 'done' | 'started' | undefined) ?? 'done',
    signal: opts.signal === undefined ? undefined : check.abortSignal('opts.signal', opts.signal),
  };
}
