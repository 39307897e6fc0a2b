/**
 * inspect: one item of the queue by id, as it stands now.
 *
 * $1 clock, $2 queue, $3 item id
 * Returns the item's row (or none): id, payload, priority, failed, due_at, expires_at,
 *   ttl, lease, attempts, and now, the statement's time; the store reads its state from
 *   them with the rules of lib.ts (an item whose last lease ended is not in the queue any
 *   more: it is a dead letter or gone, whether or not a statement has settled it yet).
 *   Writes nothing.
 */
import { CLOCK, NOW, type Tables } from './lib.js';

export function inspectStatement(t: Tables): string {
  return `WITH ${CLOCK}
SELECT i.id, i.payload, i.priority::int AS priority, i.failed, i.due_at::float8 AS due_at,
  i.expires_at::float8 AS expires_at, i.ttl, i.lease::text AS lease, i.attempts, ${NOW}::float8 AS now
FROM ${t.items} i WHERE i.queue = $2 AND i.id = $3::text`;
}
