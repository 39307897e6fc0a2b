/**
 * tasks/schedule: reads or claims the due time of a periodic or cron task, atomically,
 * so that each due time fires once however many workers run.
 *
 * $1 clock, $2 task queue, $3 task name
 * $4 mode:
 *      'read'  only reads
 *      'init'  stores $6 if the task has no due time (a new schedule)
 *      'fire'  claims the due time $5 if it is still stored and has come (now >= due):
 *              the one caller that wins stores $6
 *      'move'  replaces the due time $5, if still stored, by $6 (the schedule changed)
 * $5 the due time the caller saw, ms (fire / move)
 * $6 the due time to store, ms: the first tick after now, so missed ticks collapse into one
 * Returns one row: claimed, due (ms, -1 when none is stored), now (ms).
 * Invariant: of callers firing the same due time, one wins: the update re-checks the due
 *   time once a concurrent one has committed.
 */
import { CLOCK, NOW, type Tables } from '../lib.js';

export function scheduleStatement(t: Tables): string {
  const table = `${t.schema}.schedules`;
  return `WITH ${CLOCK},
inited AS (
  INSERT INTO ${table} (queue, name, due) SELECT $2, $3::text, $6::bigint WHERE $4::text = 'init'
  ON CONFLICT (queue, name) DO NOTHING
  RETURNING due
),
moved AS (
  UPDATE ${table} s SET due = $6::bigint
  WHERE s.queue = $2 AND s.name = $3::text AND $4::text IN ('fire', 'move') AND s.due = $5::bigint
    AND ($4::text = 'move' OR ${NOW} >= s.due)
  RETURNING due
)
SELECT $4::text = 'fire' AND EXISTS (SELECT 1 FROM moved) AS claimed,
  coalesce((SELECT due FROM inited), (SELECT due FROM moved), (SELECT due FROM ${table} WHERE queue = $2 AND name = $3::text), -1)::float8 AS due,
  ${NOW}::float8 AS now`;
}
