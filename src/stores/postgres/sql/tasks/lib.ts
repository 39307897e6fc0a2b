/**
 * Shared pieces of the task statements (sql/tasks/*.ts), as lib/tasks.lua is for the
 * Redis task scripts: the specs of a queue's tasks, task events, task metrics and the
 * latest failures. The state machine is that of src/stores/memory/task-store.ts and the
 * Lua scripts; the tables are described in sql/schema.ts (migration 2).
 *
 * A record (S.tasks) lives from a task's enqueue until a while after it became final:
 *   queued, delayed, started (run_lease: the lease token of the delivery that started
 *     the run): the task's item is in its queue;
 *   done (result: the saved result's JSON, until result_until), failed, cancelled: final,
 *     gone from expires_at on. A cancelled task's item stays in the queue until a claim
 *     discards it; until then its record has keep_ms and no expires_at, so that the item
 *     is discarded, not run. The other final states have no item left (but a failed
 *     task's dead letter, which a redrive brings back: its first delivery starts afresh).
 * A final record whose time has passed is as good as gone: reads and enqueues say so,
 * and the settle statement deletes a slice of them per call.
 */
import { RUN_BUCKETS_MS } from '../../../../tasks/metrics.js';
import { FAILURES_KEPT } from '../../../../tasks/records.js';
import { NOW, type Tables } from '../lib.js';

/** The error of a task whose last run died with its worker (the same words as the other stores). */
export const DIED = 'the worker running the last attempt stopped before it finished';

/** Events one NOTIFY carries at most: its payload must stay under 8000 bytes. */
export const EVENTS_PER_NOTIFY = 40;

/** Final records of a queue deleted per settle call at most, once their time has passed. */
export const TRIM_SLICE = 200;

/** The states in which a record is final. */
export const FINAL = "('done', 'failed', 'cancelled')";

/**
 * CTE `specs(name, attempts, vis_ms, use_dead, keep_ms, result_ms, retry_ms)`: the task
 * specs of the queue, from `param`, their JSON (see task-store.ts specJson).
 */
export function specs(param: string): string {
  return `specs AS (
  SELECT * FROM jsonb_to_recordset(${param}::jsonb)
    AS s(name text, attempts int, vis_ms bigint, use_dead boolean, keep_ms bigint, result_ms bigint, retry_ms bigint)
)`;
}

/**
 * CTE `notified`: the task events of `events` (a CTE of id, state, ord), in `ord` order,
 * on the queue's event channel `channel` (an SQL expression): one NOTIFY per
 * EVENTS_PER_NOTIFY events, each a line "<task id> <state>". PostgreSQL delivers them at
 * COMMIT. The statement must select its size (lib.ts sizeOf) for it to run.
 */
export function notifyEvents(events: string, channel: string): string {
  return `notified AS (
  SELECT pg_notify(${channel}, string_agg(e.id || ' ' || e.state, E'\\n' ORDER BY e.ord)) FROM (
    SELECT id, state, ord, (row_number() OVER (ORDER BY ord) - 1) / ${EVENTS_PER_NOTIFY} AS chunk FROM ${events}
  ) e GROUP BY e.chunk
)`;
}

/** The run-time histogram bucket of `runMs` (an SQL expression), as tasks/metrics.ts names it. */
function bucket(runMs: string): string {
  return `CASE ${RUN_BUCKETS_MS.map((bound) => `WHEN ${runMs} <= ${bound} THEN '${bound}'`).join(' ')} ELSE 'inf' END`;
}

/**
 * CTE `metered`: adds to the task metrics of queue $2 what the status changes in
 * `transitions` (a CTE of task, state, failed_run, run_ms) count, as transitionIncrements
 * (tasks/metrics.ts) counts them, plus `extra` (a query of field, n), in the row of this
 * server process, as the running totals are kept (lib.ts count).
 */
export function meter(t: Tables, transitions: string, extra?: string): string {
  const timed = `FROM ${transitions} WHERE state NOT IN ('started', 'cancelled') AND run_ms >= 0`;
  return `metered AS (
  INSERT INTO ${t.schema}.task_metrics AS m (queue, pid, field, value)
  SELECT $2, pg_backend_pid(), c.field, sum(c.n) FROM (
    SELECT task || '|started' AS field, 1::bigint AS n FROM ${transitions} WHERE state = 'started'
    UNION ALL SELECT task || '|' || state, 1 FROM ${transitions} WHERE state IN ('done', 'failed')
    UNION ALL SELECT task || '|retried', 1 FROM ${transitions} WHERE state IN ('queued', 'delayed') AND failed_run
    UNION ALL SELECT task || '|le|' || ${bucket('run_ms')}, 1 ${timed}
    UNION ALL SELECT task || '|runs', 1 ${timed}
    UNION ALL SELECT task || '|ms', floor(run_ms)::bigint ${timed}${extra ? `\n    UNION ALL ${extra}` : ''}
  ) c GROUP BY c.field HAVING sum(c.n) <> 0
  ON CONFLICT (queue, pid, field) DO UPDATE SET value = m.value + excluded.value
)`;
}

/**
 * CTEs `logged` and `trimmed`: keeps the failed runs of `failures` (a CTE of task_id,
 * task, error, attempt, final, ord) as the latest of queue $2, newest last, and deletes
 * those beyond the newest FAILURES_KEPT.
 */
export function logFailures(t: Tables, failures: string): string {
  const table = `${t.schema}.task_failures`;
  return `logged AS (
  INSERT INTO ${table} (queue, seq, task_id, task, error, attempt, final, at)
  SELECT $2, nextval('${t.schema.replace(/'/g, "''")}.ids'), f.task_id, f.task, f.error, f.attempt, f.final, ${NOW}
  FROM (SELECT * FROM ${failures} ORDER BY ord DESC LIMIT ${FAILURES_KEPT}) f ORDER BY f.ord
),
trimmed AS (
  DELETE FROM ${table} f WHERE f.queue = $2 AND EXISTS (SELECT 1 FROM ${failures}) AND f.seq <= (
    SELECT k.seq FROM ${table} k WHERE k.queue = $2 ORDER BY k.seq DESC
    OFFSET greatest(0, ${FAILURES_KEPT} - (SELECT count(*) FROM ${failures})) LIMIT 1
  )
)`;
}
