/**
 * redrive: moves up to `count` visible dead letters back to their queue, in the
 * dead-letter queue's order, with fresh attempts.
 *
 * $1 clock, $2 queue (the parent), $3 its dead-letter queue
 * $4 count, 1..1000
 * $5 true to NOTIFY readers of the queue (the store throttles it)
 * Returns one row: moved.
 * Side effects: deletes the dead letters and inserts them into the queue with their ids,
 *   priorities and metadata, a new seq each (the end of their priority), no deliveries and no ttl.
 *   The store settles both queues first (maintain), so that every item whose last
 *   delivery has ended is a dead letter here and dead letters whose delay ended count.
 */
import { turnCte } from './groups.js';
import { CLOCK, NOW, sizeOf, type Tables } from './lib.js';

/** `t.items` is the queue's table, `t.dead` the dead-letter table. */
export function redriveStatement(t: Tables): string {
  return `WITH ${CLOCK},
taken AS (
  SELECT d.id FROM ${t.dead} d
  WHERE d.queue = $3 AND d.due_at IS NULL AND (d.expires_at IS NULL OR d.expires_at > ${NOW}) AND d.grp IS NULL
  ORDER BY d.priority DESC, d.seq LIMIT $4::int FOR UPDATE SKIP LOCKED
),
lifted AS (
  DELETE FROM ${t.dead} d USING taken WHERE d.queue = $3 AND d.id = taken.id
  RETURNING d.id, d.priority, d.seq, d.payload, d.meta, d.dead_grp, d.dead_seq
),
moved AS (
  INSERT INTO ${t.items} (queue, id, seq, priority, ttl, failed, entered_at, payload, meta, grp)
  SELECT $2, l.id,
    -- a dead letter of a group goes back to it at its put seq (groups.ts)
    CASE WHEN l.dead_grp IS NULL THEN nextval('${t.schema.replace(/'/g, "''")}.ids') ELSE l.dead_seq END,
    l.priority, 0, 0, ${NOW}, l.payload, l.meta, l.dead_grp
  FROM lifted l ORDER BY l.priority DESC, l.seq
  RETURNING id, grp
),
${turnCte(t, 'turned', 'SELECT grp FROM moved')},
wake AS (SELECT pg_notify(${t.channel}, $2) WHERE $5::boolean AND EXISTS (SELECT 1 FROM moved))
SELECT (SELECT count(*) FROM moved)::int AS moved, ${sizeOf('wake')} AS woke`;
}
