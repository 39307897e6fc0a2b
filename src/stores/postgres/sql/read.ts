/**
 * read: delivers up to `count` visible items, highest priority first, then oldest, in one
 * statement.
 *
 * $1 clock, $2 queue, $3 dead-letter queue
 * $4 count, 1..1000
 * $5 visibility timeout in ms (the leasing form; the at-most-once form ignores it)
 * $6 attempts: deliveries allowed before an item is dead-lettered or dropped
 * $7 true to dead-letter items whose attempts are spent, false to drop them
 * Returns one row per delivered item, in delivery order: id, failed (deliveries before
 *   this one), payload, lease (the batch's token; null at most once), meta. When nothing was
 *   delivered, one row with id null and next_due: ms until a delayed item or a lease
 *   deadline of this queue comes due, -1 when none is pending; while the queue is paused
 *   (sql/limits.ts), limited 'p' and next_due the ms until the pause ends.
 * Side effects: settles rows whose time came (lib.ts settle: requeued, dead-lettered,
 *   dropped, expired); the leasing form sets each delivered row's lease (one new token
 *   for the batch), deadline and reader settings, the at-most-once form deletes them;
 *   counts deliveries (or an empty read, for a queue that has had a put), expiries, dead
 *   letters, drops and expiries by ttl; NOTIFYs the dead-letter queue when it got dead
 *   letters and this queue when it made items visible that it did not deliver.
 * Invariant: an item has at most one live lease. Rows are claimed FOR UPDATE SKIP LOCKED,
 *   so concurrent readers never wait for each other and never share an item; a row is
 *   claimable only while visible, and claiming hides it until its deadline.
 */
import { among, bury, CLOCK, count, SETTLED_TOTALS, wakeSettled, NOW, requeue, settle, sizeOf, type Tables } from './lib.js';
import { GROUPED, turnCte } from './groups.js';
import { NOT_PAUSED, PAUSE_LEFT, pausedCte } from './limits.js';

export function readStatement(t: Tables, leasing: boolean): string {
  // the write names its rows by key beside its join (lib.ts "Plans"): with statistics the
  // join alone read the whole items table; a read takes at most 1,000 rows
  const claim = leasing
    ? `UPDATE ${t.items} i SET due_at = ${NOW} + $5::bigint, expires_at = NULL, failed = p.failed,
    lease = (SELECT token FROM token), attempts = $6::int, use_dead = $7::boolean
  FROM pick p WHERE i.queue = $2 AND i.id = p.id AND ${among('i', 'SELECT id FROM pick')}
  RETURNING i.id, i.failed, i.payload, i.lease, i.priority, i.seq, i.meta`
    : `DELETE FROM ${t.items} i USING pick p WHERE i.queue = $2 AND i.id = p.id AND ${among('i', 'SELECT id FROM pick')}
  RETURNING i.id, p.failed, i.payload, NULL::bigint AS lease, i.priority, i.seq, i.meta`;
  return `WITH ${CLOCK},
${settle(t)},
${pausedCte(t)},
head AS (
  SELECT i.id, i.priority, i.seq, i.failed FROM ${t.items} i
  WHERE i.queue = $2 AND i.due_at IS NULL AND (i.expires_at IS NULL OR i.expires_at > ${NOW}) AND ${NOT_PAUSED}
    AND i.grp IS NULL
  ORDER BY i.priority DESC, i.seq LIMIT $4::int FOR UPDATE SKIP LOCKED
),
pick AS (
  SELECT c.id, c.failed FROM (
    SELECT id, priority, seq, failed FROM head
    UNION ALL SELECT id, priority, seq, failed FROM settled WHERE fate = 'ready' AND ${NOT_PAUSED} AND grp IS NULL
  ) c ORDER BY c.priority DESC, c.seq LIMIT $4::int
),
token AS (
  SELECT nextval('${t.schema.replace(/'/g, "''")}.leases') AS token WHERE ${leasing ? 'EXISTS (SELECT 1 FROM pick)' : 'false'}
),
claimed AS (
  ${claim}
),
${requeue(t, 'SELECT id FROM pick')},
${bury(t)},
${turnCte(t, 'turned', 'SELECT grp FROM requeued UNION ALL SELECT grp FROM gone')},
${count(t, {
  deliveries: sizeOf('claimed'),
  empty_reads: `CASE WHEN NOT EXISTS (SELECT 1 FROM claimed) AND ${NOT_PAUSED} AND EXISTS (SELECT 1 FROM ${t.schema}.totals WHERE queue = $2) THEN 1 ELSE 0 END`,
  ...SETTLED_TOTALS,
})},
wake AS (
  ${wakeSettled(t)}
)
SELECT c.id::text AS id, c.failed, c.payload, c.lease::text AS lease, NULL::float8 AS next_due,
  ${sizeOf('wake')} AS woke, c.priority, c.seq, c.meta, NULL::text AS limited, ${GROUPED(t)} AS grouped
FROM claimed c
UNION ALL
SELECT NULL, NULL, NULL, NULL, coalesce(${PAUSE_LEFT}, (
    SELECT min(i.due_at) - ${NOW} FROM ${t.items} i WHERE i.queue = $2 AND i.due_at > ${NOW}
  ), -1)::float8,
  ${sizeOf('wake')}, NULL, NULL, NULL, CASE WHEN EXISTS (SELECT 1 FROM paused) THEN 'p' END, ${GROUPED(t)}
WHERE NOT EXISTS (SELECT 1 FROM claimed)
ORDER BY priority DESC, seq`;
}
