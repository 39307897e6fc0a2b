/**
 * tasks/metrics and tasks/failures: what the dashboard and `app.taskMetrics()` read.
 *
 * metrics:  $1 task queue. Returns one row per field (field, value), summed over the rows
 *           of every server process. Side effects: folds the rows of server processes that
 *           have ended into one row (pid 0), as stats() folds the running totals: the sums
 *           are unchanged, and the table keeps about one row per live process and field.
 * failures: $1 task queue, $2 count. Returns the latest failed runs, newest first, at most
 *           $2 (task_id, task, error, attempt, final, at).
 */

export function metricsStatement(schema: string): string {
  const table = `${schema}.task_metrics`;
  return `WITH folded AS (
  DELETE FROM ${table} WHERE queue = $1 AND pid <> 0
    AND pid NOT IN (SELECT pid FROM pg_stat_activity WHERE pid IS NOT NULL)
  RETURNING field, value
),
kept AS (
  INSERT INTO ${table} AS m (queue, pid, field, value) SELECT $1, 0, field, sum(value) FROM folded GROUP BY field
  ON CONFLICT (queue, pid, field) DO UPDATE SET value = m.value + excluded.value
  RETURNING 1
)
SELECT field, sum(value)::float8 AS value FROM ${table} WHERE queue = $1 GROUP BY field`;
}

export function failuresStatement(schema: string): string {
  return `SELECT task_id, task, error, attempt, final, at::float8 AS at FROM ${schema}.task_failures
WHERE queue = $1 ORDER BY seq DESC LIMIT $2::int`;
}
