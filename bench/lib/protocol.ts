/**
 * What the orchestrator (main.ts) and its agent processes (agent.ts) say to each other
 * over the IPC channel. Every job runs in two steps, `prepare` (connect, build objects,
 * not timed) and `go` (the timed part), so that all agents of a phase start together.
 */

/** The systems compared. */
export type SystemName = RedisSystemName | PostgresSystemName;
export type RedisSystemName = 'visq' | 'streams' | 'bullmq' | 'bee-queue' | 'visq-otel';
export const SYSTEMS: readonly RedisSystemName[] = ['visq', 'streams', 'bullmq', 'bee-queue', 'visq-otel'];
/** The systems on the private PostgreSQL (the `postgres` workload): visq's PostgresStore and its peers. */
export type PostgresSystemName = 'visq-postgres' | 'pg-boss' | 'graphile-worker';
export const POSTGRES_SYSTEMS: readonly PostgresSystemName[] = ['visq-postgres', 'pg-boss', 'graphile-worker'];
/** Measured when `--systems` is not given: all but visq-otel (tracing's cost), which runs only on request. */
export const DEFAULT_SYSTEMS: readonly SystemName[] = [...SYSTEMS.filter((s) => s !== 'visq-otel'), ...POSTGRES_SYSTEMS];

/** A data item: the same small JSON object for every system (30 bytes of JSON). */
export interface Payload {
  readonly a: number;
  readonly b: string;
}
export const PAYLOAD: Payload = { a: 1, b: 'x'.repeat(20) };
export const PAYLOAD_BYTES = JSON.stringify(PAYLOAD).length;

/** The arguments of the trivial `add(a, b)` task (an object for the peers, a tuple for visq). */
export interface TaskArgs {
  readonly a: number;
  readonly b: number;
}
export const TASK_ARGS: TaskArgs = { a: 1, b: 2 };

/** `data`: a data queue of Payloads; `tasks`: the `add` task. */
export type Target = 'data' | 'tasks';

/**
 * How tasks are configured. `defaults`: each system's task defaults (visq at most once,
 * BullMQ and bee-queue in their fast settings); `at-least-once`: visq `attempts: 3,
 * visTimeout: 30` and each peer's equivalent (3 attempts, stalled-job recovery on,
 * results not kept; see the drivers' header comments). A task job without `profile`
 * runs at `defaults`.
 */
export type TaskProfile = 'defaults' | 'at-least-once';
export const TASK_PROFILES: readonly TaskProfile[] = ['defaults', 'at-least-once'];

export type Job =
  /**
   * Puts `count` items (or `add` tasks), `batch` per call, one call in flight: timed as
   * the put and push workloads, untimed to fill a queue before a read workload. `dedupe`:
   * data puts with a dedupe key per item, every key new (visq only; workloads/dedupe.ts).
   */
  | {
      kind: 'put';
      system: SystemName;
      target: Target;
      count: number;
      batch: number;
      profile?: TaskProfile;
      /** Data only (visq): the items go to this many ordered groups, in turn by position. */
      groups?: number;
      /** visq only: a deduplicated put, each item with a key never used before. */
      dedupe?: boolean;
    }
  /**
   * Data get + done, `batch` per read, until a read finds the queue empty; with
   * `consumers` > 1, that many consumers (one connection each) in this one process.
   */
  | { kind: 'drain'; system: SystemName; batch: number; consumers?: number }
  /** One worker with `concurrency` until `count` tasks finished. */
  | { kind: 'process'; system: SystemName; concurrency: number; count: number; profile?: TaskProfile }
  /** `count` items (or tasks) one at a time, one every `intervalMs`, stamped with the send time. */
  | { kind: 'stamp-send'; system: SystemName; target: Target; count: number; intervalMs: number; profile?: TaskProfile }
  /** Receives `count` stamped items (or starts `count` tasks) and returns their latencies. */
  | { kind: 'stamp-receive'; system: SystemName; target: Target; count: number; profile?: TaskProfile }
  /** `calls` reads of `batch` items, each timed; the items are done and put back untimed. */
  | { kind: 'depth'; system: SystemName; calls: number; batch: number };

export interface JobResult {
  /** Items (or tasks) handled. */
  readonly items: number;
  /** `process.hrtime` (system-wide monotonic clock) at the start and end of the timed part, ns. */
  readonly startNs: number;
  readonly endNs: number;
  /** CPU time the agent process used during the timed part, µs (user + system). */
  readonly cpuUs: number;
  /** Latencies, µs (stamp-receive and depth only). */
  readonly samplesUs?: number[];
}

export type ToAgent =
  | { type: 'prepare'; id: number; job: Job }
  | { type: 'go'; id: number }
  | { type: 'exit' };

export type FromAgent =
  | { type: 'hello' }
  | { type: 'ready'; id: number }
  | { type: 'result'; id: number; result: JobResult }
  | { type: 'error'; id: number; message: string };

/** Where the private redis-server listens, and the private PostgreSQL's database when one runs; passed to every agent. */
export interface ServerAddress {
  readonly host: string;
  readonly port: number;
  readonly postgres?: string;
}

/** The system-wide monotonic clock in ns, comparable across the agent processes. */
export function nowNs(): number {
  return Number(process.hrtime.bigint());
}
