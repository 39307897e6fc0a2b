/**
 * tasks/enqueue: puts tasks of one name and writes their records, in one statement.
 *
 * $1 clock, $2 task queue
 * $3 delay in ms; > 0 hides the items until now + delay
 * $4 priority, an integer from -1000 to 1000
 * $5 task name
 * $6 task ids, text[] (each its item's id too); $7 their items' payloads (the task messages), text[]
 * $8 true to NOTIFY readers (the store throttles it; always true in a caller's transaction)
 * $9 the items' metadata, the same for all ('' for none)
 * Returns one row per task, in input order: written, false when its id already has a
 *   record that is not expired, or an item in the queue (the same put sent again puts
 *   nothing), or came earlier in the same call.
 * Side effects: the put's (see put.ts: items in input order, puts counted, readers
 *   woken); one record per task put, queued or delayed, 0 runs (an expired record of
 *   the same id is replaced). In the caller's transaction all of it takes effect on
 *   COMMIT and never on ROLLBACK.
 */
import { CLOCK, count, NOW, sizeOf, type Tables } from '../lib.js';

/**
 * CTE `recorded`: a queued or delayed record, 0 runs, for each task of the CTE `added`
 * (replacing an expired record of the same id). $2 task queue, $3 delay, $5 task name.
 */
export function recordAdded(t: Tables): string {
  return `recorded AS (
  INSERT INTO ${t.schema}.tasks AS r (queue, id, task, state, attempt, at)
  SELECT $2, a.id, $5::text, CASE WHEN $3::bigint > 0 THEN 'delayed' ELSE 'queued' END, 0, ${NOW} FROM added a
  ON CONFLICT (queue, id) DO UPDATE SET task = excluded.task, state = excluded.state, attempt = 0, at = excluded.at,
    run_lease = NULL, error = NULL, result = NULL, result_until = NULL, keep_ms = NULL, expires_at = NULL
)`;
}

/**
 * CTE `taken`: the ids of the CTE `input` that a task of queue $2 holds already (a record
 * not expired, or an item), each looked up by key (lib.ts "Plans").
 */
export function taken(t: Tables): string {
  return `taken AS (
  SELECT k.id FROM (SELECT DISTINCT id FROM input) k CROSS JOIN LATERAL (
    SELECT 1 FROM ${t.schema}.tasks r WHERE r.queue = $2 AND r.id = k.id AND (r.expires_at IS NULL OR r.expires_at > ${NOW})
    UNION ALL SELECT 1 FROM ${t.items} i WHERE i.queue = $2 AND i.id = k.id
    LIMIT 1
  ) held
)`;
}

export function enqueueStatement(t: Tables): string {
  return `WITH ${CLOCK},
input AS (
  SELECT u.id, u.payload, u.position FROM unnest($6::text[], $7::text[]) WITH ORDINALITY AS u(id, payload, position)
),
${taken(t)},
fresh AS (
  SELECT DISTINCT ON (id) id, payload, position FROM input WHERE id NOT IN (SELECT id FROM taken) ORDER BY id, position
),
added AS (
  INSERT INTO ${t.items} (queue, id, seq, priority, due_at, ttl, failed, entered_at, payload, meta)
  SELECT $2, f.id, nextval('${t.schema.replace(/'/g, "''")}.ids'), $4::smallint,
    CASE WHEN $3::bigint > 0 THEN ${NOW} + $3::bigint END, 0, 0, ${NOW}, f.payload, $9::text
  FROM fresh f ORDER BY f.position
  ON CONFLICT (queue, id) DO NOTHING
  RETURNING id
),
${recordAdded(t)},
${count(t, { puts: sizeOf('added') })},
wake AS (SELECT pg_notify(${t.channel}, $2) WHERE $8::boolean AND $3::bigint <= 0 AND EXISTS (SELECT 1 FROM added))
SELECT i.position, (f.position IS NOT NULL AND a.id IS NOT NULL) AS written, ${sizeOf('wake')} AS woke
FROM input i LEFT JOIN fresh f ON f.position = i.position LEFT JOIN added a ON a.id = i.id
ORDER BY i.position`;
}
