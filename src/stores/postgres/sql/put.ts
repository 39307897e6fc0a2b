/**
 * put: stores up to 1000 items in one statement, in order.
 *
 * $1 clock, $2 queue
 * $3 delay in ms; > 0 hides the items until now + delay
 * $4 priority, an integer from -1000 to 1000
 * $5 ttl in ms; > 0 drops an item not read within ttl of becoming visible; 0 = none
 * $6 payloads (JSON text), text[]
 * $7 true to NOTIFY readers (the store throttles it; always true in a caller's transaction)
 * $8 the items' metadata, text[] parallel to $6 ('' or missing entries: none)
 * Returns one row per item, its id, in input order.
 * Side effects: inserts the items (seqs from S.ids, in input order, so FIFO within a
 *   priority; an item's id is its seq's decimal text); counts puts. In the caller's transaction all of it, the NOTIFY included,
 *   takes effect on COMMIT and never on ROLLBACK.
 */
import { CLOCK, count, NOW, sizeOf, type Tables } from './lib.js';

export function putStatement(t: Tables): string {
  return `WITH ${CLOCK},
added AS (
  INSERT INTO ${t.items} (queue, id, seq, priority, due_at, expires_at, ttl, failed, entered_at, payload, meta)
  SELECT $2, n.seq::text, n.seq, $4::smallint, CASE WHEN $3::bigint > 0 THEN ${NOW} + $3::bigint END,
    CASE WHEN $3::bigint <= 0 AND $5::int > 0 THEN ${NOW} + $5::int END, $5::int, 0, ${NOW}, n.payload, n.meta
  FROM (
    SELECT nextval('${t.schema.replace(/'/g, "''")}.ids') AS seq, u.payload, coalesce(u.meta, '') AS meta
    FROM unnest($6::text[], $8::text[]) WITH ORDINALITY AS u(payload, meta, position) ORDER BY u.position
  ) n
  RETURNING id, seq
),
${count(t, { puts: sizeOf('added') })},
wake AS (SELECT pg_notify(${t.channel}, $2) WHERE $7::boolean AND $3::bigint <= 0)
SELECT id, ${sizeOf('wake')} AS woke FROM added ORDER BY added.seq`;
}
