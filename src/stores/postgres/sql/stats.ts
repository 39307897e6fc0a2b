/**
 * stats: the queue's counts and running totals, read from one snapshot.
 *
 * $1 clock, $2 queue, $3 dead-letter queue
 * Returns one row: ready, delayed, inflight, dead, expired, dropped, puts, deliveries,
 *   dones, expiries, dead_lettered, empty_reads, head_age (ms since the next item a read
 *   would deliver entered the queue; -1 when none is visible).
 *   Rows whose time came count as settling would leave them (lib.ts), so the counts and
 *   totals are those of the present, as on the other stores; dead counts every row of
 *   the dead-letter queue, whatever its state there.
 * Side effects: folds the totals rows of server processes that have ended into one row
 *   (pid 0), so the table keeps one row per live process; the sum is unchanged, and the
 *   totals read are those of the statement's snapshot.
 * Cost: O(items in the queue), as PostgreSQL counts rows by visiting them.
 */
import { groupHeadAge } from './groups.js';
import { CLOCK, fateOf, NOW, type Tables } from './lib.js';
import { visible } from './visible.js';

export function statsStatement(t: Tables): string {
  const totals = ['puts', 'deliveries', 'dones', 'expiries', 'dead_lettered', 'dropped', 'expired', 'empty_reads'];
  const sums = totals.map((name) => `coalesce(sum(${name}), 0)::float8 AS ${name}`).join(', ');
  return `WITH ${CLOCK},
${visible(t, '1')},
shown AS (
  SELECT
    count(*) FILTER (WHERE i.due_at IS NULL AND (i.expires_at IS NULL OR i.expires_at > ${NOW})) AS ready,
    count(*) FILTER (WHERE i.due_at IS NULL AND i.expires_at <= ${NOW}) AS overdue
  FROM ${t.items} i WHERE i.queue = $2 AND i.due_at IS NULL AND i.grp IS NULL
),
-- items waiting in ordered groups are ready too (never with a ttl: docs/groups.md)
grouped AS (
  SELECT count(*) AS ready FROM ${t.items} i WHERE i.queue = $2 AND i.grp IS NOT NULL AND i.due_at IS NULL
),
waiting AS (
  SELECT
    count(*) FILTER (WHERE i.due_at > ${NOW} AND i.lease IS NULL) AS delayed,
    count(*) FILTER (WHERE i.due_at > ${NOW} AND i.lease IS NOT NULL) AS inflight,
    count(*) FILTER (WHERE i.due_at <= ${NOW} AND i.lease IS NOT NULL) AS lapsed,
    count(*) FILTER (WHERE i.due_at <= ${NOW} AND ${fateOf('i')} = 'ready') AS ready,
    count(*) FILTER (WHERE i.due_at <= ${NOW} AND ${fateOf('i')} = 'dead') AS dead,
    count(*) FILTER (WHERE i.due_at <= ${NOW} AND ${fateOf('i')} = 'dropped') AS dropped,
    count(*) FILTER (WHERE i.due_at <= ${NOW} AND ${fateOf('i')} = 'expired') AS expired
  FROM ${t.items} i WHERE i.queue = $2 AND i.due_at IS NOT NULL
),
totals AS (SELECT ${sums} FROM ${t.schema}.totals WHERE queue = $2),
folded AS (
  DELETE FROM ${t.schema}.totals WHERE queue IN ($2, $3) AND pid <> 0
    AND pid NOT IN (SELECT pid FROM pg_stat_activity WHERE pid IS NOT NULL)
  RETURNING *
),
kept AS (
  INSERT INTO ${t.schema}.totals AS t (queue, pid, ${totals.join(', ')})
  SELECT queue, 0, ${totals.map((name) => `sum(${name})`).join(', ')} FROM folded GROUP BY queue
  ON CONFLICT (queue, pid) DO UPDATE SET ${totals.map((name) => `${name} = t.${name} + excluded.${name}`).join(', ')}
  RETURNING 1
)
SELECT (s.ready + w.ready + (SELECT ready FROM grouped))::float8 AS ready, w.delayed::float8 AS delayed, w.inflight::float8 AS inflight,
  ((SELECT count(*) FROM ${t.dead} d WHERE d.queue = $3) + w.dead)::float8 AS dead,
  (c.expired + s.overdue + w.expired)::float8 AS expired, (c.dropped + w.dropped)::float8 AS dropped,
  c.puts, c.deliveries, c.dones, (c.expiries + w.lapsed)::float8 AS expiries,
  (c.dead_lettered + w.dead)::float8 AS dead_lettered, c.empty_reads,
  coalesce((SELECT greatest(0, ${NOW} - entered_at) FROM visible), ${groupHeadAge(t)}, -1)::float8 AS head_age,
  (SELECT count(*) FROM kept) AS folded
FROM shown s, waiting w, totals c`;
}
