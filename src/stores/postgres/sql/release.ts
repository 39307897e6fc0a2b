/**
 * release: ends live deliveries without done, as releaseData and failData do.
 *
 * $1 clock, $2 queue, $3 dead-letter queue
 * $4 item ids, text[]; $5 lease tokens, bigint[] (as in leases.ts)
 * $6 mode: 'count' (a failed delivery: requeued, or dead-lettered / dropped when it was
 *    the item's last attempt), 'keep' (never worked on: requeued, no attempt used) or
 *    'fail' (a final failure: dead-lettered when $7, else dropped)
 * $7 fail only: dead-letter (true) or drop (false)
 * $8 ms before requeued items are visible again (0: at once)
 * $9 true to NOTIFY readers when items became visible (the store throttles it)
 * Returns one row (id, lease, outcome) per lease ended, outcome 'requeued', 'dead' or
 *   'dropped', and one row with id null whose `visible` tells whether items became
 *   visible now (for the store's wake-ups).
 * Side effects: settles rows whose time came first (lib.ts settle), so that deliveries
 *   that ended earlier reach the dead letters first; counts dead letters, drops, expiries.
 * Invariant: as leases.ts: only live leases act, rows locked in id order.
 */
import { bury, CLOCK, count, liveLeases, SETTLED_TOTALS, wakeSettled, NOW, requeue, settle, sizeOf, type Tables } from './lib.js';
import { turnCte } from './groups.js';
import { slotWake } from './limits.js';

export function releaseStatement(t: Tables): string {
  return `WITH ${CLOCK},
${settle(t)},
live AS (
  SELECT i.id, i.seq, i.failed, i.attempts, i.use_dead, i.ttl, i.lease, i.grp FROM ${liveLeases(t, '$4::text[]', '$5::bigint[]')}
),
ended AS (
  SELECT l.id, l.seq, l.ttl, l.lease, l.grp,
    l.failed + CASE WHEN $6::text = 'keep' THEN 0 ELSE 1 END AS failed,
    CASE
      WHEN $6::text = 'fail' THEN CASE WHEN $7::boolean THEN 'dead' ELSE 'dropped' END
      WHEN $6::text = 'count' AND l.failed + 1 >= l.attempts THEN CASE WHEN l.use_dead THEN 'dead' ELSE 'dropped' END
      ELSE 'requeued' END AS outcome
  FROM live l
),
back AS (
  UPDATE ${t.items} i SET lease = NULL, attempts = NULL, use_dead = NULL, failed = e.failed,
    due_at = CASE WHEN $8::bigint > 0 THEN ${NOW} + $8::bigint END,
    expires_at = CASE WHEN $8::bigint <= 0 AND e.ttl > 0 THEN ${NOW} + e.ttl END,
    -- a grouped item released with a delay holds its group until it is visible (groups.ts)
    ghold = CASE WHEN $8::bigint > 0 AND e.grp IS NOT NULL THEN true END
  FROM ended e WHERE e.outcome = 'requeued' AND i.queue = $2 AND i.id = e.id
  RETURNING i.id
),
${requeue(t)},
${bury(t, `SELECT id, outcome, ${NOW}, 1 FROM ended WHERE outcome <> 'requeued'`)},
${turnCte(t, 'turned', 'SELECT grp FROM requeued UNION ALL SELECT grp FROM gone UNION ALL SELECT grp FROM ended')},
${count(t, {
  ...SETTLED_TOTALS,
})},
shown AS (
  SELECT (EXISTS (SELECT 1 FROM back) AND $8::bigint <= 0) OR EXISTS (SELECT 1 FROM requeued)
    -- a grouped item that left (dead, dropped) may let its group go on
    OR EXISTS (SELECT 1 FROM ended WHERE grp IS NOT NULL AND outcome <> 'requeued') AS visible
),
wake AS (
  ${wakeSettled(t, '$9::boolean AND (SELECT visible FROM shown)')}
  UNION ALL ${slotWake(t, 'EXISTS (SELECT 1 FROM ended)')}
)
SELECT e.id, e.lease::text AS lease, e.outcome, NULL::boolean AS visible, ${sizeOf('wake')} AS woke
FROM ended e
UNION ALL
SELECT NULL, NULL, NULL, (SELECT visible FROM shown), ${sizeOf('wake')}`;
}
