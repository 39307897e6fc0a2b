/**
 * tasks/read and tasks/result: a task's record, and its saved result. Write nothing.
 *
 * read:   $1 clock, $2 task queue, $3 task id. Returns the record (state, attempt, at,
 *         task, error, has_result), or no row when there is none or its time has passed.
 * result: $1 clock, $2 task queue, $3 task id. Returns the saved result's JSON (result),
 *         or no row when none is kept.
 */
import { CLOCK, NOW, type Tables } from '../lib.js';

export function readStatement(t: Tables): string {
  return `WITH ${CLOCK}
SELECT r.state, r.attempt, r.at::float8 AS at, r.task, r.error, r.result IS NOT NULL AS has_result
FROM ${t.schema}.tasks r
WHERE r.queue = $2 AND r.id = $3::text AND (r.expires_at IS NULL OR r.expires_at > ${NOW})`;
}

export function resultStatement(t: Tables): string {
  return `WITH ${CLOCK}
SELECT r.result FROM ${t.schema}.tasks r
WHERE r.queue = $2 AND r.id = $3::text AND r.result_until > ${NOW}`;
}
