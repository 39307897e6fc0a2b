/**
 * tasks/cancel: cancels a queued or delayed task (also one waiting to be retried).
 *
 * $1 clock, $2 task queue, $3 task id, $4 ms to keep the cancelled record, $5 the queue's
 * task event channel
 * Returns one row: cancelled, true when cancelled (it will not run again), false when it
 *   is running, final or unknown.
 * Side effects: the record becomes cancelled (final), kept until the claim that discards
 *   the task's item (then for $4 ms more); one task event; a dedupe key the task held
 *   until done is freed (sql/dedupe.ts).
 * Invariant: a cancel and a start never both win: each changes the record only from the
 *   state it found, re-checked once a concurrent change of the row has committed.
 */
import { CLOCK, NOW, sizeOf, type Tables } from '../lib.js';
import { notifyEvents } from './lib.js';
import { freeCancelled } from '../dedupe.js';

export function cancelStatement(t: Tables): string {
  return `WITH ${CLOCK},
cancelled AS (
  UPDATE ${t.schema}.tasks r SET state = 'cancelled', at = ${NOW}, keep_ms = $4::bigint, expires_at = NULL
  WHERE r.queue = $2 AND r.id = $3::text AND r.state IN ('queued', 'delayed')
  RETURNING r.id
),
${freeCancelled(t)},
events AS (SELECT id, 'cancelled' AS state, 1 AS ord FROM cancelled),
${notifyEvents('events', '$5::text')}
SELECT EXISTS (SELECT 1 FROM cancelled) AS cancelled, ${sizeOf('notified')} AS woke`;
}
