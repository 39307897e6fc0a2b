/**
 * done and refresh: act on live leases, given as two arrays of equal length (item ids
 * and lease tokens; a lease string is "<id>:<token>").
 *
 * $1 clock, $2 queue
 * $3 item ids, text[]; $4 lease tokens, bigint[]
 * refresh only: $5 the new lease length in ms, $6 the dead-letter queue
 * Returns one row (id, lease) per lease acted on. A lease is live while it is its item's
 *   current delivery and its deadline is later than now; any other pair (stale, done,
 *   of another queue, unknown) matches no row and changes nothing. refresh's rows also
 *   say whether it shortened a lease (shortened) and whether one so shortened was its
 *   item's last attempt, dead-lettered when it ends (dead_shortened).
 * Side effects: done deletes the items and counts dones; refresh moves the deadlines, and
 *   when it shortens a lease NOTIFYs the queue, and the dead-letter queue when that lease
 *   dead-letters: blocked readers computed their wait from the deadlines they saw, so
 *   they read again and wait for the new one.
 * Invariant: rows are locked in id order before they change, so that two statements on
 *   overlapping leases wait for each other instead of deadlocking; a row whose lease
 *   changed meanwhile is re-checked after the wait (READ COMMITTED) and left out.
 * Both run in the caller's transaction when one is given (done only): a done that is
 * rolled back did not happen, and the rows stay locked until the transaction ends.
 */
import { CLOCK, count, liveLeases, NOW, sizeOf, type Tables } from './lib.js';
import { leavingTurns } from './groups.js';
import { slotWake } from './limits.js';

/** CTE `live`: the rows of live leases among $3/$4, locked in id order. */
function live(t: Tables): string {
  return `live AS (
  SELECT i.id FROM ${liveLeases(t, '$3::text[]', '$4::bigint[]')}
)`;
}

export function doneStatement(t: Tables): string {
  return `WITH ${CLOCK},
${live(t)},
finished AS (
  DELETE FROM ${t.items} i USING live l WHERE i.queue = $2 AND i.id = l.id
  RETURNING i.id, i.lease, i.grp
),
${leavingTurns(t, 'finished')},
${count(t, { dones: sizeOf('finished') })},
wake AS (
  ${slotWake(t, 'EXISTS (SELECT 1 FROM finished)')}
  -- a done of grouped items may let their groups go on
  UNION ALL SELECT pg_notify(${t.channel}, $2) WHERE EXISTS (SELECT 1 FROM finished WHERE grp IS NOT NULL)
)
SELECT id, lease::text AS lease, ${sizeOf('wake')} AS woke, grp IS NOT NULL AS grouped FROM finished`;
}

export function refreshStatement(t: Tables): string {
  return `WITH ${CLOCK},
held AS (
  SELECT i.id, i.due_at > ${NOW} + $5::bigint AS shortened,
    i.due_at > ${NOW} + $5::bigint AND i.use_dead AND i.failed + 1 >= i.attempts AS dead_shortened
  FROM ${liveLeases(t, '$3::text[]', '$4::bigint[]')}
),
moved AS (
  UPDATE ${t.items} i SET due_at = ${NOW} + $5::bigint FROM held h WHERE i.queue = $2 AND i.id = h.id
  RETURNING i.id, i.lease
),
shortened AS (
  SELECT coalesce(bool_or(shortened), false) AS queue, coalesce(bool_or(dead_shortened), false) AS dead FROM held
),
wake AS (
  SELECT pg_notify(${t.channel}, $2) WHERE (SELECT queue FROM shortened)
  UNION ALL SELECT pg_notify(${t.channel}, $6) WHERE (SELECT dead FROM shortened)
)
SELECT m.id, m.lease::text AS lease, s.queue AS shortened, s.dead AS dead_shortened, ${sizeOf('wake')} AS woke
FROM moved m, shortened s`;
}
