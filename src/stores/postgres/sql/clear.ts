/**
 * clear: deletes every item of the queue and of its dead-letter queue, both queues'
 * running totals and limit state (a pause, the rate limit's bucket: as the meta hash on
 * Redis), the records and claim tokens of a task queue's tasks (its task metrics, latest
 * failures and schedules stay, as on Redis), and its dedupe keys. Leases of the queue are stale from then on (their rows are gone). A
 * dead-letter queue never dead-letters, but an older version could write a dead-letter
 * queue of its own (`…:dead:dead`): clear leaves none of it behind either.
 *
 * $1 queue, $2 its dead-letter queue
 */
import { groupClear } from './groups.js';
import type { Tables } from './lib.js';

export function clearStatement(t: Tables): string {
  return `WITH items AS (DELETE FROM ${t.items} WHERE queue = $1),
dead AS (DELETE FROM ${t.dead} WHERE queue IN ($2, $2 || ':dead')),
totals AS (DELETE FROM ${t.schema}.totals WHERE queue IN ($1, $2, $2 || ':dead')),
tasks AS (DELETE FROM ${t.schema}.tasks WHERE queue = $1),
claims AS (DELETE FROM ${t.schema}.claims WHERE queue = $1),
dedupe AS (DELETE FROM ${t.schema}.dedupe WHERE queue = $1),
limits AS (DELETE FROM ${t.schema}.limits WHERE queue IN ($1, $2)),
${groupClear(t)}
SELECT 1 AS cleared`;
}
