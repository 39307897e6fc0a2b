/**
 * maintain: brings a queue up to date with time, as every writing statement does first
 * (lib.ts settle): due delayed items become visible, ended leases are requeued,
 * dead-lettered or dropped, items past their ttl go. A dead-letter queue runs it on its
 * parent before it reads, so that items whose last delivery ended are there whether or
 * not anyone uses the parent.
 *
 * $1 clock, $2 queue, $3 dead-letter queue
 * Returns one row: settled, the number of rows whose time came that it settled (at most
 *   SETTLE_LIMIT; more may be left for the next statement).
 * Side effects: counts expiries, dead letters, drops and expiries by ttl; NOTIFYs the
 *   dead-letter queue when it got dead letters and this queue when items became visible.
 */
import { bury, CLOCK, count, requeue, settle, sizeOf, type Tables } from './lib.js';

export function maintainStatement(t: Tables): string {
  return `WITH ${CLOCK},
${settle(t)},
${requeue(t)},
${bury(t)},
${count(t, {
  expiries: sizeOf('settled', 'lapsed'),
  dead_lettered: sizeOf('buried'),
  dropped: sizeOf('gone', "fate = 'dropped'"),
  expired: sizeOf('gone', "fate = 'expired'"),
})},
wake AS (
  SELECT pg_notify(${t.channel}, $3) WHERE EXISTS (SELECT 1 FROM buried)
  UNION ALL SELECT pg_notify(${t.channel}, $2) WHERE EXISTS (SELECT 1 FROM requeued)
)
SELECT ${sizeOf('settled')} + ${sizeOf('overdue')} AS settled, ${sizeOf('wake')} AS woke`;
}
