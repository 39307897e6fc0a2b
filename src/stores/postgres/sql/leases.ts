/**
 * done and refresh: act on live leases, given as two arrays of equal length (item ids
 * and lease tokens; a lease string is "<id>:<token>").
 *
 * $1 clock, $2 queue
 * $3 item ids, bigint[]; $4 lease tokens, bigint[]
 * refresh only: $5 the new lease length in ms
 * Returns one row (id, lease) per lease acted on. A lease is live while it is its item's
 *   current delivery and its deadline is later than now; any other pair (stale, done,
 *   of another queue, unknown) matches no row and changes nothing.
 * Side effects: done deletes the items and counts dones; refresh moves the deadlines.
 * Invariant: rows are locked in id order before they change, so that two statements on
 *   overlapping leases wait for each other instead of deadlocking; a row whose lease
 *   changed meanwhile is re-checked after the wait (READ COMMITTED) and left out.
 * Both run in the caller's transaction when one is given (done only): a done that is
 * rolled back did not happen, and the rows stay locked until the transaction ends.
 */
import { CLOCK, count, NOW, sizeOf, type Tables } from './lib.js';

/** CTE `live`: the rows of live leases among $3/$4, locked in id order. */
function live(t: Tables): string {
  return `live AS (
  SELECT i.id FROM ${t.items} i
  JOIN unnest($3::bigint[], $4::bigint[]) AS l(id, lease) ON i.id = l.id AND i.lease = l.lease
  WHERE i.queue = $2 AND i.due_at > ${NOW}
  ORDER BY i.id FOR UPDATE OF i
)`;
}

export function doneStatement(t: Tables): string {
  return `WITH ${CLOCK},
${live(t)},
finished AS (
  DELETE FROM ${t.items} i USING live l WHERE i.queue = $2 AND i.id = l.id
  RETURNING i.id, i.lease
),
${count(t, { dones: sizeOf('finished') })}
SELECT id::text AS id, lease::text AS lease FROM finished`;
}

export function refreshStatement(t: Tables): string {
  return `WITH ${CLOCK},
${live(t)}
UPDATE ${t.items} i SET due_at = ${NOW} + $5::bigint FROM live l WHERE i.queue = $2 AND i.id = l.id
RETURNING i.id::text AS id, i.lease::text AS lease`;
}
