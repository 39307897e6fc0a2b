/**
 * Shared pieces of the store's statements, as lib/queue.lua is for the Lua scripts: the
 * clock, the settling of items whose time has come, the running totals. Every statement
 * is built once per (schema, table) and then prepared by the server; its text never
 * depends on the values, so one prepared statement serves batches of 1 to 1000.
 *
 * Parameters common to all statements: $1 the clock (test hook, "0" in production; see
 * src/data/clock.ts), $2 the queue's key base, $3 its dead-letter queue's key base.
 *
 * An item's state follows from its row and the time:
 *   due_at IS NULL                 visible (until expires_at, when it has a ttl)
 *   due_at > now, lease IS NULL    delayed
 *   due_at > now, lease NOT NULL   in flight: the lease is live
 *   due_at <= now                  its time came: a delay ended (visible since due_at) or
 *                                  a lease ended (one more failed delivery: visible again
 *                                  since due_at, or dead-lettered / dropped when that was
 *                                  its last attempt)
 * Writers settle such rows (settle()) before they act, so that they act on the present;
 * readers that write nothing (peek, stats, inspect) apply the same rules as they read.
 *
 * Plans. A queue table's statistics are seldom right: none until autovacuum first
 * analyzes it, and later ones taken when a queue held a hundredth of what it holds now,
 * and a generic plan estimates every CTE at a handful of rows. So:
 *   - rows are looked up by key, `FROM keys k CROSS JOIN LATERAL (SELECT … WHERE queue =
 *     $2 AND id = k.id … FOR UPDATE)` (or `LIMIT 1`): a subquery that locks or limits is
 *     planned on its own, one primary-key probe per key, locking in the order of `keys`;
 *     a join there could read a whole queue (a bitmap scan of `queue = $2`);
 *   - a write to rows an earlier CTE found joins that CTE on the primary key
 *     (`FROM cte g WHERE i.queue = $2 AND i.id = g.id`), which plans as a probe per CTE
 *     row; `i.id = ANY (ARRAY(SELECT id FROM cte))` beside such a join can make
 *     PostgreSQL rescan the CTE for every row it finds (9,000 dead letters took 19 s), so
 *     only the reads and task claims add it, whose joins otherwise read the whole items
 *     table once the tables had statistics, and whose rows are at most 1,000;
 *   - a write whose rows a subquery picks, without a join, names them with
 *     `id = ANY (ARRAY(subquery))` ({@link among}): the subquery runs once, as an init
 *     plan, and the rows are probed by key (as `IN (subquery)` the plan could run it
 *     beside a scan of the records, and two statements then deadlocked).
 * docs/postgres.md, "Plans", has the measurements.
 */

/** The names a statement is built for. */
export interface Tables {
  /** The schema, quoted. */
  readonly schema: string;
  /** The queue's item table, schema-qualified and quoted (items, or dead for a dead-letter queue). */
  readonly items: string;
  /** The dead-letter table, schema-qualified and quoted. */
  readonly dead: string;
  /** The wake-up channel, as an SQL literal. */
  readonly channel: string;
}

/** Most rows whose time came that one statement settles; the next statement goes on. */
export const SETTLE_LIMIT = 10_000;

/**
 * CTE `clock(now)`: the statement's time in ms. "0" is the database clock; a number adds
 * that many ms to it; "@<ms>" is a frozen time (tests only).
 */
export const CLOCK = `clock AS (
  SELECT CASE WHEN left($1::text, 1) = '@' THEN substr($1::text, 2)::bigint
    ELSE floor(extract(epoch FROM statement_timestamp()) * 1000)::bigint + $1::text::bigint END AS now
)`;

/** The statement's time, for use anywhere after {@link CLOCK}. */
export const NOW = '(SELECT now FROM clock)';

/**
 * `<alias>.id = ANY (ARRAY(<ids>))`: names the rows of a write by the ids a subquery picks
 * (`ids`), run once (see "Plans" above: beside a join on the same ids only where the rows
 * are few).
 */
export function among(alias: string, ids: string): string {
  return `${alias}.id = ANY (ARRAY(${ids}))`;
}

/**
 * What a row whose time came becomes, from the columns of `r`: 'ready', 'expired' (its
 * ttl ran out since it became visible), 'dead' or 'dropped' (a lease ended its last attempt).
 */
export function fateOf(r: string): string {
  return `CASE
    WHEN ${r}.lease IS NOT NULL AND ${r}.failed + 1 >= ${r}.attempts THEN CASE WHEN ${r}.use_dead THEN 'dead' ELSE 'dropped' END
    WHEN ${r}.ttl > 0 AND ${r}.due_at + ${r}.ttl <= ${NOW} THEN 'expired'
    ELSE 'ready' END`;
}

/**
 * `FROM` items for the live leases among the pairs of `ids` and `tokens` (SQL text[] and
 * bigint[] arrays of equal length): each row of queue $2 whose current delivery and
 * unexpired deadline a pair names, as `i` (every column), looked up by key and locked in
 * id order (see "Plans"). A pair given twice names its row once.
 */
export function liveLeases(t: Tables, ids: string, tokens: string): string {
  return `(SELECT DISTINCT l.id COLLATE "C" AS id, l.lease FROM unnest(${ids}, ${tokens}) AS l(id, lease) ORDER BY 1) l
  CROSS JOIN LATERAL (
    SELECT * FROM ${t.items} i WHERE i.queue = $2 AND i.id = l.id AND i.lease = l.lease AND i.due_at > ${NOW} FOR UPDATE
  ) i`;
}

/**
 * CTEs `due`, `settled` and `overdue`: the rows of this queue whose time came (locked,
 * oldest first, at most {@link SETTLE_LIMIT}) with their fate and failed count, and the
 * visible rows whose ttl ran out (locked). Rows another statement holds are skipped: it
 * settles them.
 */
export function settle(t: Tables): string {
  return `due AS (
  SELECT i.id, i.seq, i.priority, i.due_at, i.ttl, i.failed, i.lease, i.attempts, i.use_dead, i.grp
  FROM ${t.items} i WHERE i.queue = $2 AND i.due_at <= ${NOW}
  ORDER BY i.due_at LIMIT ${SETTLE_LIMIT} FOR UPDATE SKIP LOCKED
),
settled AS (
  SELECT d.id, d.seq, d.priority, d.due_at, d.ttl, d.lease IS NOT NULL AS lapsed,
    d.failed + (d.lease IS NOT NULL)::int AS failed, ${fateOf('d')} AS fate, d.grp
  FROM due d
),
overdue AS (
  SELECT i.id FROM ${t.items} i WHERE i.queue = $2 AND i.expires_at <= ${NOW}
  LIMIT ${SETTLE_LIMIT} FOR UPDATE SKIP LOCKED
)`;
}

/**
 * CTE `requeued`: settled rows made visible again (since their due time, which starts
 * their ttl window), except those `exclude` (a subquery of ids) names.
 */
export function requeue(t: Tables, exclude?: string): string {
  const skip = exclude ? ` AND s.id NOT IN (${exclude})` : '';
  return `requeued AS (
  UPDATE ${t.items} i SET due_at = NULL, lease = NULL, attempts = NULL, use_dead = NULL, failed = s.failed,
    expires_at = CASE WHEN s.ttl > 0 THEN s.due_at + s.ttl END, ghold = NULL
  FROM settled s WHERE s.fate = 'ready'${skip} AND i.queue = $2 AND i.id = s.id
  RETURNING i.id, i.grp
)`;
}

/**
 * CTEs `gone` and `buried`: deletes the settled rows that leave the queue and the
 * overdue ones, plus `more` (a subquery of `id, fate, ended, kind`), and moves those whose
 * fate is 'dead' to the dead-letter queue ($3). Dead letters enter in the order their last
 * deliveries ended (`ended`; at one time, expiries, kind 0, before releases, kind 1), then
 * put order, each with a new seq at the end of the dead-letter queue and no deliveries,
 * keeping its id, priority, payload and metadata.
 */
export function bury(t: Tables, more?: string): string {
  return `gone AS (
  DELETE FROM ${t.items} i USING (
    SELECT id, fate, due_at AS ended, 0 AS kind FROM settled WHERE fate <> 'ready'
    UNION ALL SELECT id, 'expired', 0, 0 FROM overdue${more ? `\n    UNION ALL ${more}` : ''}
  ) g WHERE i.queue = $2 AND i.id = g.id
  RETURNING i.id, i.seq, i.priority, i.payload, g.fate, g.ended, g.kind, i.meta, i.grp
),
buried AS (
  INSERT INTO ${t.dead} (queue, id, seq, priority, ttl, failed, entered_at, payload, meta, dead_grp, dead_seq, blocks)
  SELECT $3, b.id, nextval('${t.schema.replace(/'/g, "''")}.ids'), b.priority, 0, 0, ${NOW}, b.payload, b.meta,
    ${groupOfDead(t)}
  FROM gone b WHERE b.fate = 'dead' ORDER BY b.ended, b.kind, b.seq
  RETURNING id
)`;
}

/**
 * The group columns of a dead letter (sql/groups.ts): a grouped item keeps its group and
 * put seq, for redrive, and blocks its group under onDead 'block'.
 */
function groupOfDead(t: Tables): string {
  return `b.grp, CASE WHEN b.grp IS NOT NULL THEN b.seq END,
    CASE WHEN b.grp IS NOT NULL THEN coalesce((SELECT q.block FROM ${t.schema}.group_queues q WHERE q.queue = $2), false) END`;
}

/** What settling adds to the running totals (after settle(), bury()): for count(). */
export const SETTLED_TOTALS: Partial<Record<Total, string>> = {
  expiries: sizeOf('settled', 'lapsed'),
  dead_lettered: sizeOf('buried'),
  dropped: sizeOf('gone', "fate = 'dropped'"),
  expired: sizeOf('gone', "fate = 'expired'"),
};

/**
 * The NOTIFYs of settling: the dead-letter queue ($3) when it got dead letters, this
 * queue ($2) when `visible` (an SQL condition) says items became visible.
 */
export function wakeSettled(t: Tables, visible = 'EXISTS (SELECT 1 FROM requeued)'): string {
  return `SELECT pg_notify(${t.channel}, $3) WHERE EXISTS (SELECT 1 FROM buried)
  UNION ALL SELECT pg_notify(${t.channel}, $2) WHERE ${visible}`;
}

/** The running totals a statement may add to (see the totals table). */
export type Total = 'puts' | 'deliveries' | 'dones' | 'expiries' | 'dead_lettered' | 'dropped' | 'expired' | 'empty_reads';

const TOTALS: readonly Total[] = ['puts', 'deliveries', 'dones', 'expiries', 'dead_lettered', 'dropped', 'expired', 'empty_reads'];

/**
 * CTE `counted`: adds the given amounts (SQL expressions) to the running totals of queue
 * $2, in the row of this server process. A process's row is written by that process only,
 * so counting never waits for another transaction, even one of the caller's that stays
 * open (stats() sums the rows; see stats.ts for how old rows are folded).
 */
export function count(t: Tables, amounts: Partial<Record<Total, string>>): string {
  const names = TOTALS.filter((name) => amounts[name] !== undefined);
  const values = names.map((name) => `${amounts[name]} AS ${name}`).join(', ');
  return `counted AS (
  INSERT INTO ${t.schema}.totals AS t (queue, pid, ${names.join(', ')})
  SELECT $2, pg_backend_pid(), ${names.map((name) => `c.${name}`).join(', ')}
  FROM (SELECT ${values}) c WHERE ${names.map((name) => `c.${name}`).join(' + ')} > 0
  ON CONFLICT (queue, pid) DO UPDATE SET ${names.map((name) => `${name} = t.${name} + excluded.${name}`).join(', ')}
)`;
}

/**
 * `(SELECT count(*) FROM <cte>)` as an integer. Statements select the size of their `wake`
 * CTE (their NOTIFYs) so that it runs: PostgreSQL skips a plain CTE nothing reads.
 */
export function sizeOf(cte: string, where = ''): string {
  return `(SELECT count(*)::int FROM ${cte}${where ? ` WHERE ${where}` : ''})`;
}
