/**
 * Deduplicated puts on PostgreSQL (docs/dedupe.md): the `S.dedupe` table and the
 * statements that claim, look up and free its keys.
 *
 *   S.dedupe  one row per (queue, key): the holder's item id and seq, the mode and
 *             when the key is freed at the latest (expires_at, ms).
 *
 * A key held until done is free once its item no longer exists *at the statement's
 * time*: the holder's row (same id and seq: a redriven dead letter has a new seq and
 * holds nothing) is gone, or its time came and it is no longer ready (a spent lease, a
 * ttl run out, see lib.ts fateOf). So a done, a dead letter, a drop or a ttl expiry frees
 * the key in the very step that ends the item, with nothing to write there: plain
 * statements are unchanged. Only a cancelled task (whose item waits in the queue for a
 * claim to discard it) and clear delete rows here explicitly.
 *
 * Concurrency: a claim is `INSERT … ON CONFLICT (queue, key) DO UPDATE`, which waits for
 * a concurrent claim of the same key to commit or roll back and then sees its row. A
 * holder that this statement's snapshot cannot see (committed after it began) counts as
 * live, since its item cannot be seen either: a key never gets two live holders. A
 * claim in the caller's transaction (`db`) that rolls back holds no key.
 */
import { CLOCK, count, fateOf, NOW, sizeOf, type Tables } from './lib.js';
import { recordAdded, taken } from './tasks/enqueue.js';

/** Migration 3: the dedupe table. */
export function dedupeMigration(s: string): string {
  return `
CREATE TABLE ${s}.dedupe (
  queue      text COLLATE "C" NOT NULL, -- the queue's key base
  key        text COLLATE "C" NOT NULL, -- the dedupe key (1 to 512 characters)
  holder     text COLLATE "C" NOT NULL, -- the id of the item that holds it
  holder_seq bigint  NOT NULL,          -- ... and its seq when it was put
  until_done boolean NOT NULL,          -- held while the item exists (else for the window)
  expires_at bigint  NOT NULL,          -- freed then at the latest (ms)
  PRIMARY KEY (queue, key)
) WITH (fillfactor = 80, autovacuum_vacuum_scale_factor = 0.02);
CREATE INDEX dedupe_expiry ON ${s}.dedupe (queue, expires_at);
CREATE INDEX dedupe_holder ON ${s}.dedupe (queue, holder) WHERE until_done;`;
}

/** Expired keys one dedupe put forgets. */
const TRIM = 200;

/** Whether the item row `i` still exists at the statement's time (see the header). */
function itemAlive(i: string): string {
  return `CASE WHEN ${i}.due_at IS NULL THEN ${i}.expires_at IS NULL OR ${i}.expires_at > ${NOW}
    WHEN ${i}.due_at > ${NOW} THEN true
    ELSE ${fateOf(i)} = 'ready' END`;
}

/** Whether the dedupe row `d` (`queue` its queue parameter) has a live holder, as this snapshot sees its item. */
function holderLive(t: Tables, d: string): string {
  return `(${d}.expires_at > ${NOW} AND (NOT ${d}.until_done OR EXISTS (
    SELECT 1 FROM ${t.items} i WHERE i.queue = ${d}.queue AND i.id = ${d}.holder AND i.seq = ${d}.holder_seq AND ${itemAlive('i')})))`;
}

/**
 * CTEs `seen`, `trimmed` and `claimed` over a CTE `proposed(key, id, seq, position)`:
 * the claims of the proposed items. $2 queue, $until (boolean) and $window (ms) the
 * parameters named. `claimed` returns (key, holder): the proposed id when the key was
 * free, else the live holder's.
 */
function claims(t: Tables, until: string, windowMs: string): string {
  // the holder as this statement's snapshot sees it: a row replaced since is live (header)
  const fresh = `(SELECT s.holder FROM seen s WHERE s.key = d.key) IS NOT DISTINCT FROM d.holder`;
  const live = `(d.expires_at > ${NOW} AND (NOT d.until_done OR NOT ${fresh} OR EXISTS (
    SELECT 1 FROM ${t.items} i WHERE i.queue = d.queue AND i.id = d.holder AND i.seq = d.holder_seq AND ${itemAlive('i')})))`;
  const keep = (column: string): string => `CASE WHEN ${live} THEN d.${column} ELSE excluded.${column} END`;
  return `seen AS (
  SELECT d.key, d.holder FROM ${t.schema}.dedupe d WHERE d.queue = $2 AND d.key = ANY (ARRAY(SELECT key FROM proposed))
),
trimmed AS (
  DELETE FROM ${t.schema}.dedupe d WHERE d.ctid IN (
    SELECT x.ctid FROM ${t.schema}.dedupe x
    WHERE x.queue = $2 AND x.expires_at <= ${NOW} AND x.key NOT IN (SELECT key FROM proposed)
    LIMIT ${TRIM} FOR UPDATE SKIP LOCKED)
),
claimed AS (
  INSERT INTO ${t.schema}.dedupe AS d (queue, key, holder, holder_seq, until_done, expires_at)
  SELECT $2, p.key, p.id, p.seq, ${until}, ${NOW} + ${windowMs} FROM proposed p ORDER BY p.position
  ON CONFLICT (queue, key) DO UPDATE SET
    holder = ${keep('holder')}, holder_seq = ${keep('holder_seq')},
    until_done = ${keep('until_done')}, expires_at = ${keep('expires_at')}
  RETURNING d.key, d.holder
)`;
}

/**
 * dedupe_put: put.ts with dedupe, one statement for up to 1000 items.
 *
 * $1 clock, $2 queue, $3 delay ms, $4 priority, $5 ttl ms, $6 payloads text[],
 * $7 true to NOTIFY readers, $8 keys text[] (one per payload, all different),
 * $9 true to hold until done, $10 window ms, $11 the items' metadata, text[] parallel to $6
 * ('' or missing entries: none)
 * Returns one row per item in input order: id (the new id, or the holder's) and duplicate.
 * Side effects: those of put.ts for the items whose keys were free; their claims; a
 *   slice of expired keys forgotten. A duplicate writes no item.
 */
export function dedupePutStatement(t: Tables): string {
  return `WITH ${CLOCK},
proposed AS (
  SELECT n.seq::text AS id, n.seq, n.payload, n.key, n.meta, n.position FROM (
    SELECT nextval('${t.schema.replace(/'/g, "''")}.ids') AS seq, u.payload, u.key, coalesce(u.meta, '') AS meta, u.position
    FROM unnest($6::text[], $8::text[], $11::text[]) WITH ORDINALITY AS u(payload, key, meta, position) ORDER BY u.position
  ) n
),
${claims(t, '$9::boolean', '$10::bigint')},
added AS (
  INSERT INTO ${t.items} (queue, id, seq, priority, due_at, expires_at, ttl, failed, entered_at, payload, meta)
  SELECT $2, p.id, p.seq, $4::smallint, CASE WHEN $3::bigint > 0 THEN ${NOW} + $3::bigint END,
    CASE WHEN $3::bigint <= 0 AND $5::int > 0 THEN ${NOW} + $5::int END, $5::int, 0, ${NOW}, p.payload, p.meta
  FROM proposed p JOIN claimed c ON c.key = p.key AND c.holder = p.id
  ORDER BY p.position
  RETURNING id
),
${count(t, { puts: sizeOf('added') })},
wake AS (SELECT pg_notify(${t.channel}, $2) WHERE $7::boolean AND $3::bigint <= 0 AND EXISTS (SELECT 1 FROM added))
SELECT c.holder AS id, c.holder <> p.id AS duplicate, ${sizeOf('wake')} AS woke
FROM proposed p JOIN claimed c ON c.key = p.key ORDER BY p.position`;
}

/**
 * tasks/enqueue with dedupe (see sql/tasks/enqueue.ts): $1..$9 as there, $10 keys text[]
 * (one per task, all different), $11 true to hold until done, $12 window ms.
 * Returns one row per task in input order: id (the task's own, or the holder's) and
 * duplicate. A task sent again (its id has a record or an item) answers its own id.
 */
export function dedupeEnqueueStatement(t: Tables): string {
  return `WITH ${CLOCK},
input AS (
  SELECT u.id, u.payload, u.key, u.position FROM unnest($6::text[], $7::text[], $10::text[]) WITH ORDINALITY AS u(id, payload, key, position)
),
${taken(t)},
proposed AS (
  SELECT n.id, nextval('${t.schema.replace(/'/g, "''")}.ids') AS seq, n.payload, n.key, n.position
  FROM (SELECT * FROM input WHERE id NOT IN (SELECT id FROM taken) ORDER BY position) n
),
${claims(t, '$11::boolean', '$12::bigint')},
added AS (
  INSERT INTO ${t.items} (queue, id, seq, priority, due_at, ttl, failed, entered_at, payload, meta)
  SELECT $2, p.id, p.seq, $4::smallint, CASE WHEN $3::bigint > 0 THEN ${NOW} + $3::bigint END, 0, 0, ${NOW}, p.payload, $9::text
  FROM proposed p JOIN claimed c ON c.key = p.key AND c.holder = p.id
  ORDER BY p.position
  ON CONFLICT (queue, id) DO NOTHING
  RETURNING id
),
${recordAdded(t)},
${count(t, { puts: sizeOf('added') })},
wake AS (SELECT pg_notify(${t.channel}, $2) WHERE $8::boolean AND $3::bigint <= 0 AND EXISTS (SELECT 1 FROM added))
SELECT coalesce(c.holder, i.id) AS id, coalesce(c.holder <> i.id, false) AS duplicate, ${sizeOf('wake')} AS woke
FROM input i LEFT JOIN claimed c ON c.key = i.key AND i.id NOT IN (SELECT id FROM taken)
ORDER BY i.position`;
}

/**
 * dedupe_get: $1 clock, $2 queue, $3 key. One row (holder, expires_at, until_done) when a
 * live item holds the key, none otherwise. Reads only.
 */
export function dedupeGetStatement(t: Tables): string {
  return `WITH ${CLOCK}
SELECT d.holder, d.expires_at, d.until_done FROM ${t.schema}.dedupe d
WHERE d.queue = $2 AND d.key = $3 AND ${holderLive(t, 'd')}`;
}

/** dedupe_clear: $1 clock, $2 queue, $3 key. Deletes the key's row; one row, cleared: whether a live item held it. */
export function dedupeClearStatement(t: Tables): string {
  return `WITH ${CLOCK},
gone AS (DELETE FROM ${t.schema}.dedupe d WHERE d.queue = $2 AND d.key = $3 RETURNING d.*)
SELECT EXISTS (SELECT 1 FROM gone d WHERE ${holderLive(t, 'd')}) AS cleared`;
}

/** The CTE a cancel adds: a cancelled task's key held until done is free ($2 queue, $3 task id; `cancelled` the cancel's CTE). */
export function freeCancelled(t: Tables): string {
  return `freed AS (
  DELETE FROM ${t.schema}.dedupe d WHERE d.queue = $2 AND d.holder = $3::text AND d.until_done AND EXISTS (SELECT 1 FROM cancelled)
)`;
}
