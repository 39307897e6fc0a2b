/**
 * Ordered groups on PostgreSQL (docs/groups.md, docs/postgres.md): the statements of
 * grouped puts, grouped reads, `dq.groups()` and `dq.unblockGroups()`, and the small
 * hooks the plain statements carry.
 *
 * A group's state follows from its rows, as an item's does (lib.ts):
 *   items.grp              the item's group, while it is in the queue (null: no group)
 *   waiting                grp set, due_at IS NULL
 *   out (holds the group)  grp set and lease set (leased, or its lease ended and is not
 *                          settled yet), or ghold set and due_at set (released with a
 *                          delay: held until it is visible again)
 *   delayed                grp set, due_at set, no lease, no ghold: holds nothing
 *   blocked                a dead letter of the queue with dead_grp = the group and blocks
 *                          set (dead-lettered under onDead 'block', not yet redriven,
 *                          unblocked or taken out of the dead-letter queue)
 * A group is *ready* when items wait, nothing is out and it is not blocked. The order in
 * which groups became ready is the one thing that is written down: S.group_turns holds
 * each group's turn, a value of S.ids taken whenever something may make the group ready
 * (a put into an idle group, a done, a lease ending, a redrive, an unblock, a read of
 * the group); a grouped read walks the groups by turn. Every group that has items has a
 * row (puts and redrives upsert it; only a statement that saw the group's last item
 * leave deletes it, and only the row version it saw: see leavingTurns). S.group_queues
 * records onDead.
 *
 * Concurrency: plain reads never take grouped rows (read.ts skips `grp IS NOT NULL`), so
 * only a grouped take leases them, and grouped takes of one queue run one at a time under
 * a transaction-level advisory lock on the queue, each in a statement that starts after
 * the lock is granted: it sees every lease an earlier take committed. Other statements
 * only end leases (done, release, settling), which can make a group look held a moment
 * longer to a take, never free. So a group never has two holders.
 */
import { among, CLOCK, count, NOW, sizeOf, type Tables } from './lib.js';

/** Migration 6: group columns, the group tables and their indexes. */
export function groupsMigration(s: string): string {
  return `
ALTER TABLE ${s}.items ADD COLUMN grp text COLLATE "C", ADD COLUMN ghold boolean,
  ADD COLUMN dead_grp text COLLATE "C", ADD COLUMN dead_seq bigint, ADD COLUMN blocks boolean;
ALTER TABLE ${s}.dead ADD COLUMN grp text COLLATE "C", ADD COLUMN ghold boolean,
  ADD COLUMN dead_grp text COLLATE "C", ADD COLUMN dead_seq bigint, ADD COLUMN blocks boolean;
-- what a plain read takes: visible items without a group (the items of ordered groups wait
-- for their group's turn, and would otherwise be scanned past by every plain read); it
-- replaces items_ready, same name, so plain queues keep one index of the same size
CREATE INDEX items_ready_plain ON ${s}.items (queue, priority DESC, seq) WHERE due_at IS NULL AND grp IS NULL;
DROP INDEX ${s}.items_ready;
ALTER INDEX ${s}.items_ready_plain RENAME TO items_ready;
-- a group's items in put order; empty (and free) for queues without groups
CREATE INDEX items_group ON ${s}.items (queue, grp, seq) WHERE grp IS NOT NULL;
CREATE INDEX dead_group ON ${s}.dead (queue, grp, seq) WHERE grp IS NOT NULL;
-- a group's items out: whether it is held is one probe, however many of its items wait
CREATE INDEX items_group_out ON ${s}.items (queue, grp) WHERE grp IS NOT NULL AND (lease IS NOT NULL OR ghold);
-- dead letters of groups, for blocks and redrive
CREATE INDEX dead_dead_group ON ${s}.dead (queue, dead_grp) WHERE dead_grp IS NOT NULL;
CREATE TABLE ${s}.group_turns (
  queue text COLLATE "C" NOT NULL, -- the queue's key base
  grp   text COLLATE "C" NOT NULL, -- the group
  turn  bigint NOT NULL,           -- from S.ids: when it last may have become ready
  ver   bigint NOT NULL DEFAULT 0, -- +1 on every write: a forget of an emptied group checks it
  PRIMARY KEY (queue, grp)
) WITH (fillfactor = 70, autovacuum_vacuum_scale_factor = 0.02);
-- the round-robin: a grouped read walks a queue's groups by turn
CREATE INDEX group_turns_order ON ${s}.group_turns (queue, turn);
CREATE TABLE ${s}.group_queues (
  queue text COLLATE "C" NOT NULL PRIMARY KEY, -- the queue's key base
  block boolean NOT NULL                       -- onDead 'block', from the last grouped put
);`;
}

function ids(t: Tables): string {
  return `nextval('${t.schema.replace(/'/g, "''")}.ids')`;
}

/**
 * CTE `<name>`: gives the groups `groups` (a subquery of one column `grp`, nulls ignored)
 * a new turn, the end of the ready order. Rows are written in group order, so that two
 * statements touching the same groups lock their rows in one order and wait for each
 * other rather than deadlock.
 */
export function turnCte(t: Tables, name: string, groups: string): string {
  return `${name} AS (
  INSERT INTO ${t.schema}.group_turns AS gt (queue, grp, turn)
  SELECT $2, g.grp, ${ids(t)} FROM (SELECT DISTINCT x.grp FROM (${groups}) x WHERE x.grp IS NOT NULL) g
  ORDER BY g.grp
  ON CONFLICT (queue, grp) DO UPDATE SET turn = excluded.turn, ver = gt.ver + 1
  RETURNING gt.grp
)`;
}

/** Whether group `g` (an SQL expression) of queue $2 has an item out (see the header). */
function heldBy(t: Tables, g: string): string {
  return `EXISTS (SELECT 1 FROM ${t.items} h WHERE h.queue = $2 AND h.grp = ${g}
    AND (h.lease IS NOT NULL OR (h.ghold AND h.due_at IS NOT NULL)))`;
}

/** Whether group `g` of queue $2 is blocked by a dead letter ($3 the dead-letter queue). */
function blockedBy(t: Tables, g: string): string {
  return `EXISTS (SELECT 1 FROM ${t.dead} d WHERE d.queue = $3 AND d.dead_grp = ${g} AND d.blocks)`;
}

/**
 * CTEs `walk`, `ready` (up to `limit` ready groups by turn) and `ranked` (their head runs,
 * each row numbered n in delivery order: groups by turn, items by seq; at most `limit`
 * rows). The walk goes through the queue's groups in turn order one index step at a time
 * and stops once the ready groups' waiting items fill `limit`, so a read looks at the
 * groups at the front of the round-robin (held groups went to its end when they were
 * read), not at all of them. Needs `WITH RECURSIVE`.
 */
function readyRuns(t: Tables, limit: string): string {
  // took: the items a read could take from the group (0 when held or blocked), at most limit
  const took = (g: string): string => `CASE WHEN ${heldBy(t, g)} OR ${blockedBy(t, g)} THEN 0 ELSE (
      SELECT count(*) FROM (SELECT 1 FROM ${t.items} w WHERE w.queue = $2 AND w.grp = ${g} AND w.due_at IS NULL LIMIT ${limit}) x
    ) END`;
  return `walk (grp, turn, took, total) AS (
  SELECT f.grp, f.turn, f.took, f.took FROM (
    SELECT g.grp, g.turn, ${took('g.grp')} AS took FROM (
      SELECT g.grp, g.turn FROM ${t.schema}.group_turns g WHERE g.queue = $2 ORDER BY g.turn LIMIT 1
    ) g
  ) f
  UNION ALL
  SELECT n.grp, n.turn, n.took, w.total + n.took
  FROM walk w CROSS JOIN LATERAL (
    SELECT g.grp, g.turn, ${took('g.grp')} AS took FROM (
      SELECT g.grp, g.turn FROM ${t.schema}.group_turns g WHERE g.queue = $2 AND g.turn > w.turn ORDER BY g.turn LIMIT 1
    ) g
  ) n
  WHERE w.total < ${limit}
),
ready AS (
  SELECT grp, turn FROM walk WHERE took > 0 ORDER BY turn LIMIT ${limit}
),
ranked AS (
  SELECT r.id, r.failed, r.grp, r.n FROM (
    SELECT w.id, w.failed, w.grp, row_number() OVER (ORDER BY g.turn, g.grp, w.seq) AS n
    FROM ready g CROSS JOIN LATERAL (
      SELECT i.id, i.failed, i.grp, i.seq FROM ${t.items} i
      WHERE i.queue = $2 AND i.grp = g.grp AND i.due_at IS NULL ORDER BY i.seq LIMIT ${limit}
    ) w
  ) r WHERE r.n <= ${limit}
)`;
}

/**
 * The grouped put: as put.ts, each item in its group.
 *
 * $1 clock, $2 queue, $3 delay ms, $4 payloads text[], $5 true to NOTIFY, $6 metadata
 * text[], $7 group names text[] (one for all items, or one per item), $8 true for
 * onDead 'block'.
 * Returns one row per item, its id, in input order. A group that was idle (nothing
 * waiting or out) gets a turn, in order of first appearance; a busy one keeps its place.
 */
export function groupPutStatement(t: Tables): string {
  return `WITH ${CLOCK},
named AS (
  SELECT ${ids(t)} AS seq, u.payload, coalesce(u.meta, '') AS meta,
    CASE WHEN cardinality($7::text[]) = 1 THEN ($7::text[])[1] ELSE ($7::text[])[u.position] END AS grp
  FROM unnest($4::text[], $6::text[]) WITH ORDINALITY AS u(payload, meta, position) ORDER BY u.position
),
added AS (
  INSERT INTO ${t.items} (queue, id, seq, priority, due_at, expires_at, ttl, failed, entered_at, payload, meta, grp)
  SELECT $2, n.seq::text, n.seq, 0, CASE WHEN $3::bigint > 0 THEN ${NOW} + $3::bigint END, NULL, 0, 0, ${NOW},
    n.payload, n.meta, n.grp
  FROM named n
  RETURNING id, seq
),
settings AS (
  INSERT INTO ${t.schema}.group_queues AS q (queue, block) VALUES ($2, $8::boolean)
  ON CONFLICT (queue) DO UPDATE SET block = excluded.block WHERE q.block IS DISTINCT FROM excluded.block
),
firsts AS (
  SELECT grp, min(seq) AS first FROM named GROUP BY grp
),
-- new turns in order of first appearance, written in group order (see turnCte)
numbered AS (
  SELECT f.grp, ${ids(t)} AS turn FROM (SELECT grp, first FROM firsts ORDER BY first) f
),
turned AS (
  -- every group put into has a row (a group with items always has one: see leavingTurns);
  -- an idle one (nothing waiting or out, in this snapshot, which does not see the new
  -- items) goes to the end of the round-robin, a busy one keeps its place
  INSERT INTO ${t.schema}.group_turns AS gt (queue, grp, turn)
  SELECT $2, n.grp, n.turn FROM numbered n ORDER BY n.grp
  ON CONFLICT (queue, grp) DO UPDATE SET ver = gt.ver + 1,
    turn = CASE WHEN $3::bigint <= 0 AND NOT EXISTS (
      SELECT 1 FROM ${t.items} h WHERE h.queue = $2 AND h.grp = excluded.grp
        AND (h.due_at IS NULL OR h.lease IS NOT NULL OR (h.ghold AND h.due_at IS NOT NULL))
    ) THEN excluded.turn ELSE gt.turn END
),
${count(t, { puts: sizeOf('added') })},
wake AS (SELECT pg_notify(${t.channel}, $2) WHERE $5::boolean AND $3::bigint <= 0)
SELECT id, ${sizeOf('wake')} AS woke FROM added ORDER BY added.seq`;
}

/** Locks queue $1's grouped takes for the rest of the transaction. */
export const GROUP_LOCK = `SELECT pg_advisory_xact_lock(hashtextextended('visq:groups:' || $1::text, 0)) AS locked`;

/**
 * The grouped take, run right after {@link GROUP_LOCK} in its transaction (and after the
 * plain read, which settled the queue): up to $4 items of the ready groups, each group its
 * head run, by turn. The leasing form leases them (one new token), the at-most-once form
 * deletes them; every group read gets a new turn.
 *
 * $1 clock, $2 queue, $3 dead-letter queue, $4 count; leasing: $5 visibility timeout ms,
 * $6 attempts, $7 useDead; last ($8 leasing, $5 at most once): true when the plain read
 * before it delivered nothing (and so counted an empty read, which this one takes back
 * when it delivers).
 * Returns one row per item in delivery order: id, failed, payload, lease, meta.
 */
export function groupTakeStatement(t: Tables, leasing: boolean): string {
  const claim = leasing
    ? `UPDATE ${t.items} i SET due_at = ${NOW} + $5::bigint, expires_at = NULL, ghold = NULL,
    lease = (SELECT token FROM token), attempts = $6::int, use_dead = $7::boolean
  WHERE i.queue = $2 AND ${among('i', 'SELECT id FROM ranked')} AND i.due_at IS NULL
  RETURNING i.id, i.failed, i.payload, i.lease, i.meta, i.grp`
    : `DELETE FROM ${t.items} i WHERE i.queue = $2 AND ${among('i', 'SELECT id FROM ranked')} AND i.due_at IS NULL
  RETURNING i.id, i.failed, i.payload, NULL::bigint AS lease, i.meta, i.grp`;
  return `WITH RECURSIVE ${CLOCK},
${readyRuns(t, '$4::int')},
token AS (
  SELECT nextval('${t.schema.replace(/'/g, "''")}.leases') AS token WHERE ${leasing ? 'EXISTS (SELECT 1 FROM ranked)' : 'false'}
),
claimed AS (
  ${claim}
),
${leasing ? turnCte(t, 'turned', 'SELECT grp FROM claimed') : leavingTurns(t, 'claimed')},
counted AS (
  INSERT INTO ${t.schema}.totals AS t (queue, pid, deliveries, empty_reads)
  SELECT $2, pg_backend_pid(), c.n, CASE WHEN ${leasing ? '$8' : '$5'}::boolean THEN -1 ELSE 0 END
  FROM (SELECT count(*) AS n FROM claimed) c WHERE c.n > 0
  ON CONFLICT (queue, pid) DO UPDATE SET deliveries = t.deliveries + excluded.deliveries,
    empty_reads = t.empty_reads + excluded.empty_reads
)
SELECT c.id::text AS id, c.failed, c.payload, c.lease::text AS lease, c.meta, NULL::float8 AS next_due, NULL::text AS limited
FROM claimed c JOIN ranked r ON r.id = c.id ORDER BY r.n`;
}

/**
 * What a grouped take would deliver now, after `$4` plain items (see peek.ts): the
 * ready groups' head runs. $1 clock, $2 queue, $3 dead-letter queue, $4 count.
 */
export function groupPeekStatement(t: Tables): string {
  return `WITH RECURSIVE ${CLOCK},
${readyRuns(t, '$4::int')}
SELECT i.id::text AS id, i.payload, i.meta FROM ranked r JOIN ${t.items} i ON i.queue = $2 AND i.id = r.id ORDER BY r.n`;
}

/**
 * Every group of queue $2 with items waiting or out, or blocked. $1 clock, $3 the
 * dead-letter queue. Returns grp, state, depth, inflight, head_age (ms, -1: none waits).
 */
export function groupListStatement(t: Tables): string {
  return `WITH ${CLOCK},
live AS (
  SELECT i.grp,
    count(*) FILTER (WHERE i.due_at IS NULL) AS depth,
    count(*) FILTER (WHERE i.lease IS NOT NULL OR (i.ghold AND i.due_at IS NOT NULL)) AS inflight,
    (array_agg(i.entered_at ORDER BY i.seq) FILTER (WHERE i.due_at IS NULL))[1] AS head_entered
  FROM ${t.items} i WHERE i.queue = $2 AND i.grp IS NOT NULL GROUP BY i.grp
),
blocked AS (
  SELECT DISTINCT d.dead_grp AS grp FROM ${t.dead} d WHERE d.queue = $3 AND d.dead_grp IS NOT NULL AND d.blocks
)
SELECT coalesce(l.grp, b.grp) AS grp,
  CASE WHEN b.grp IS NOT NULL THEN 'blocked' WHEN coalesce(l.inflight, 0) > 0 THEN 'held'
    WHEN coalesce(l.depth, 0) > 0 THEN 'ready' ELSE 'idle' END AS state,
  coalesce(l.depth, 0)::int AS depth, coalesce(l.inflight, 0)::int AS inflight,
  coalesce(greatest(0, ${NOW} - l.head_entered), -1)::float8 AS head_age
FROM live l FULL JOIN blocked b ON b.grp = l.grp
WHERE b.grp IS NOT NULL OR l.depth > 0 OR l.inflight > 0`;
}

/**
 * Lets the blocked groups among $4 (text[]) go on: their dead letters block no more (a
 * redrive still brings them back to their groups). $1 clock, $2 queue, $3 dead-letter
 * queue. Returns one row: unblocked, how many groups were blocked.
 */
export function unblockStatement(t: Tables): string {
  return `WITH ${CLOCK},
lifted AS (
  UPDATE ${t.dead} d SET blocks = false
  WHERE d.queue = $3 AND d.dead_grp = ANY($4::text[]) AND d.blocks
  RETURNING d.dead_grp AS grp
),
${turnCte(t, 'turned', 'SELECT grp FROM lifted')},
wake AS (SELECT pg_notify(${t.channel}, $2) WHERE EXISTS (SELECT 1 FROM lifted))
SELECT (SELECT count(DISTINCT grp) FROM lifted)::int AS unblocked, ${sizeOf('wake')} AS woke`;
}

/** The queue's group rows that clear deletes ($1 queue). */
export function groupClear(t: Tables): string {
  return `group_turns AS (DELETE FROM ${t.schema}.group_turns WHERE queue = $1),
group_queues AS (DELETE FROM ${t.schema}.group_queues WHERE queue = $1)`;
}

/** Whether queue $2 has grouped items (an index probe of the empty partial index otherwise). */
export function GROUPED(t: Tables): string {
  return `EXISTS (SELECT 1 FROM ${t.items} gi WHERE gi.queue = $2 AND gi.grp IS NOT NULL)`;
}

/**
 * The age in ms of the next ready group's head (stats' headAge when no plain item is
 * visible), null when no group is ready. $2 queue, $3 dead-letter queue.
 */
export function groupHeadAge(t: Tables): string {
  return `(SELECT greatest(0, ${NOW} - w.entered_at) FROM ${t.schema}.group_turns g
    CROSS JOIN LATERAL (
      SELECT i.entered_at FROM ${t.items} i WHERE i.queue = $2 AND i.grp = g.grp AND i.due_at IS NULL ORDER BY i.seq LIMIT 1
    ) w
    WHERE g.queue = $2 AND NOT ${heldBy(t, 'g.grp')} AND NOT ${blockedBy(t, 'g.grp')}
    ORDER BY g.turn LIMIT 1)`;
}

/**
 * CTEs `emptied`, `forgot` and `turned` for a statement whose CTE `leaving` (columns id,
 * grp) takes items out of queue $2 for good (done, an at-most-once read): a group left
 * with no item forgets its turn (S.group_turns keeps no row per group ever used; a later
 * put, redrive or unblock gives it a new one), the others get a new turn.
 */
export function leavingTurns(t: Tables, leaving: string): string {
  return `emptied AS (
  SELECT g.grp FROM (SELECT DISTINCT grp FROM ${leaving} WHERE grp IS NOT NULL) g
  WHERE NOT EXISTS (SELECT 1 FROM ${t.items} h WHERE h.queue = $2 AND h.grp = g.grp AND h.id NOT IN (SELECT id FROM ${leaving}))
),
forgot AS (
  -- only the row this snapshot saw: a put or redrive into the group that committed since
  -- changed ver, and the recheck of the updated row (READ COMMITTED) then leaves it
  DELETE FROM ${t.schema}.group_turns gt USING (
    SELECT s.grp, s.ver FROM emptied e JOIN ${t.schema}.group_turns s ON s.queue = $2 AND s.grp = e.grp
  ) c WHERE gt.queue = $2 AND gt.grp = c.grp AND gt.ver = c.ver
),
${turnCte(t, 'turned', `SELECT grp FROM ${leaving} WHERE grp NOT IN (SELECT grp FROM emptied)`)}`;
}
