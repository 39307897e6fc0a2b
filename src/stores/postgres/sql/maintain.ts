/**
 * maintain: brings a queue up to date with time, as every writing statement does first
 * (lib.ts settle): due delayed items become visible, ended leases are requeued,
 * dead-lettered or dropped, items past their ttl go. A dead-letter queue runs it on its
 * parent before it reads, so that items whose last delivery ended are there whether or
 * not anyone uses the parent.
 *
 * $1 clock, $2 queue, $3 dead-letter queue
 * Returns one row: settled, the number of rows whose time came that it settled (at most
 *   SETTLE_LIMIT; more may be left for the next statement), and next_lease, ms until the
 *   queue's next lease deadline (-1 when nothing is in flight): a blocking read of the
 *   dead-letter queue wakes then, as a lease that ends may dead-letter its item without
 *   any NOTIFY to wake it.
 * Side effects: counts expiries, dead letters, drops and expiries by ttl; NOTIFYs the
 *   dead-letter queue when it got dead letters and this queue when items became visible.
 */
import { turnCte } from './groups.js';
import { bury, CLOCK, count, SETTLED_TOTALS, wakeSettled, NOW, requeue, settle, sizeOf, type Tables } from './lib.js';

export function maintainStatement(t: Tables): string {
  return `WITH ${CLOCK},
${settle(t)},
${requeue(t)},
${bury(t)},
${turnCte(t, 'turned', 'SELECT grp FROM requeued UNION ALL SELECT grp FROM gone')},
${count(t, {
  ...SETTLED_TOTALS,
})},
wake AS (
  ${wakeSettled(t)}
)
SELECT ${sizeOf('settled')} + ${sizeOf('overdue')} AS settled, ${sizeOf('wake')} AS woke,
  coalesce((
    SELECT min(i.due_at) - ${NOW} FROM ${t.items} i WHERE i.queue = $2 AND i.due_at > ${NOW} AND i.lease IS NOT NULL
  ), -1)::float8 AS next_lease`;
}
