/**
 * tasks/claim: reads up to `count` task items under the worker's lease and starts the
 * first `start` of them, in one statement: a worker's fetch and its runs' starts are one
 * call (the batch path).
 *
 * $1 clock, $2 task queue, $3 its dead-letter queue
 * $4 count, 1..1000
 * $5 how many of them to start now, 0..count
 * $6 the worker's lease in ms (> 0): items not started, and at-most-once runs
 * $7 claim token: the same claim sent again returns what it claimed, still live, and
 *    claims nothing more (kept with the claim's lease token until a minute after its lease)
 * $8 data-level attempts of the read (unbounded in effect: runs are counted by records)
 * $9 the queue's task specs, JSON (see lib.ts specs)
 * $10 the queue's task event channel
 * Returns one row per item handed over, in delivery order: kind ('start': started, its
 *   record says started and attempt is this run; 'held': not started; 'unknown': no
 *   record to start from, or a task no spec names: the worker decides; 'spent': its last
 *   run, attempt, died with its worker: the worker fails it), id, lease token, delivery,
 *   payload, attempt, meta. When nothing is handed over, one row of kind 'none' whose next_due
 *   is ms until a delayed item or lease deadline comes due (-1: none; 0 when every item
 *   read was discarded: read again at once).
 * Side effects: the read's (see read.ts: settles rows whose time came, leases what it
 *   hands over under one new token, counts deliveries); started records move to started
 *   with this delivery's lease token and one more run, counted, with a task event; an
 *   item whose task is final (cancelled, done, failed) is finished without being handed
 *   over (but a failed task's redriven dead letter, at its first delivery, starts
 *   afresh), a cancelled one's record then kept for its time from now.
 * Invariant: a task is started at most once per delivery; a start and a cancel never both
 *   win. Items are claimed FOR UPDATE SKIP LOCKED, then their records locked in id order:
 *   every task statement locks items before records, so none waits for another in a cycle.
 */
import { among, bury, CLOCK, count, NOW, requeue, settle, SETTLED_TOTALS, sizeOf, wakeSettled, type Tables } from '../lib.js';
import { FINAL, meter, notifyEvents, specs } from './lib.js';
import { NOT_PAUSED, PAUSE_LEFT, pausedCte } from '../limits.js';

/** How long a claim token is kept after its lease, ms. */
const TOKEN_GRACE_MS = 60_000;

export function claimStatement(t: Tables): string {
  const tasks = `${t.schema}.tasks`;
  const claims = `${t.schema}.claims`;
  return `WITH ${CLOCK},
${settle(t)},
prior AS (SELECT c.lease FROM ${claims} c WHERE c.queue = $2 AND c.token = $7::text),
${pausedCte(t)},
head AS (
  SELECT i.id, i.priority, i.seq, i.failed FROM ${t.items} i
  WHERE i.queue = $2 AND i.due_at IS NULL AND (i.expires_at IS NULL OR i.expires_at > ${NOW})
    AND i.grp IS NULL AND NOT EXISTS (SELECT 1 FROM prior) AND ${NOT_PAUSED}
  ORDER BY i.priority DESC, i.seq LIMIT $4::int FOR UPDATE SKIP LOCKED
),
pick AS (
  SELECT c.id, c.failed, row_number() OVER (ORDER BY c.priority DESC, c.seq) AS position FROM (
    SELECT id, priority, seq, failed FROM head
    UNION ALL SELECT id, priority, seq, failed FROM settled WHERE fate = 'ready' AND NOT EXISTS (SELECT 1 FROM prior) AND ${NOT_PAUSED}
  ) c ORDER BY c.priority DESC, c.seq LIMIT $4::int
),
token AS (
  SELECT nextval('${t.schema.replace(/'/g, "''")}.leases') AS token WHERE EXISTS (SELECT 1 FROM pick)
),
${specs('$9')},
rec AS (
  -- after every item is locked: the sort reads all of pick before the first probe
  SELECT r.id, r.task, r.state, r.attempt, r.keep_ms FROM (SELECT id COLLATE "C" AS id FROM pick ORDER BY 1) p
  CROSS JOIN LATERAL (SELECT * FROM ${tasks} r WHERE r.queue = $2 AND r.id = p.id FOR UPDATE) r
),
judged AS (
  SELECT p.id, p.failed, p.position, r.task, r.state AS was, r.keep_ms,
    r.state = 'failed' AND p.failed = 0 AS fresh,
    CASE WHEN r.state = 'failed' AND p.failed = 0 THEN 0 ELSE r.attempt END AS attempt,
    CASE
      WHEN r.id IS NULL THEN 'unknown'
      WHEN r.state = 'failed' AND p.failed = 0 THEN CASE
        WHEN s.name IS NULL THEN 'unknown' WHEN p.position > $5::int THEN 'held' ELSE 'start' END
      WHEN r.state IN ${FINAL} THEN 'discard'
      WHEN s.name IS NULL THEN 'unknown'
      WHEN p.position > $5::int THEN 'held'
      WHEN r.state = 'started' AND (s.vis_ms = 0 OR r.attempt >= s.attempts) THEN 'spent'
      ELSE 'start' END AS kind
  FROM pick p LEFT JOIN rec r ON r.id = p.id LEFT JOIN specs s ON s.name = r.task
),
discarded AS (
  -- the writes below name their rows by key as well as by the join (lib.ts "Plans"): with
  -- statistics a claim's join otherwise read the whole items table; a claim names at
  -- most 1,000 rows, which bounds what the key list can cost beside the join
  DELETE FROM ${t.items} i USING judged j WHERE j.kind = 'discard' AND i.queue = $2 AND i.id = j.id
    AND ${among('i', "SELECT id FROM judged WHERE kind = 'discard'")}
  RETURNING i.id
),
claimed AS (
  UPDATE ${t.items} i SET due_at = ${NOW} + $6::bigint, expires_at = NULL, failed = j.failed,
    lease = (SELECT token FROM token), attempts = $8::int, use_dead = false
  FROM judged j WHERE j.kind <> 'discard' AND i.queue = $2 AND i.id = j.id
    AND ${among('i', "SELECT id FROM judged WHERE kind <> 'discard'")}
  RETURNING i.id, i.failed, i.payload, i.lease, i.meta
),
started AS (
  UPDATE ${tasks} r SET state = 'started', attempt = j.attempt + 1, at = ${NOW}, run_lease = (SELECT token FROM token),
    error = CASE WHEN j.fresh THEN NULL ELSE r.error END, keep_ms = NULL, expires_at = NULL
  FROM judged j WHERE j.kind = 'start' AND r.queue = $2 AND r.id = j.id
    AND ${among('r', "SELECT id FROM judged WHERE kind = 'start'")}
  RETURNING r.id, r.task, r.attempt
),
kept AS (
  UPDATE ${tasks} r SET expires_at = ${NOW} + r.keep_ms, keep_ms = NULL
  FROM judged j WHERE j.kind = 'discard' AND j.was = 'cancelled' AND j.keep_ms IS NOT NULL AND r.queue = $2 AND r.id = j.id
    AND ${among('r', "SELECT id FROM judged WHERE kind = 'discard'")}
),
claim_kept AS (
  INSERT INTO ${claims} (queue, token, lease, until) SELECT $2, $7::text, token, ${NOW} + $6::bigint FROM token
  ON CONFLICT DO NOTHING
),
claims_gone AS (
  DELETE FROM ${claims} c WHERE c.queue = $2 AND c.until < ${NOW} - ${TOKEN_GRACE_MS}
),
${requeue(t, 'SELECT id FROM pick')},
${bury(t)},
${count(t, {
  deliveries: `${sizeOf('claimed')} + ${sizeOf('discarded')}`,
  dones: sizeOf('discarded'),
  empty_reads: `CASE WHEN NOT EXISTS (SELECT 1 FROM pick) AND NOT EXISTS (SELECT 1 FROM prior) AND ${NOT_PAUSED}
    AND EXISTS (SELECT 1 FROM ${t.schema}.totals WHERE queue = $2) THEN 1 ELSE 0 END`,
  ...SETTLED_TOTALS,
})},
wake AS (
  ${wakeSettled(t)}
),
events AS (SELECT s.id, 'started' AS state, j.position AS ord FROM started s JOIN judged j ON j.id = s.id),
${notifyEvents('events', '$10::text')},
transitions AS (SELECT task, 'started' AS state, false AS failed_run, -1::float8 AS run_ms FROM started),
${meter(t, 'transitions')},
prior_rows AS (
  SELECT i.id, i.failed, i.payload, i.lease, r.state, r.attempt, r.run_lease, s.name IS NOT NULL AS known,
    s.vis_ms, s.attempts AS allowed, i.priority, i.seq, i.meta
  FROM ${t.items} i JOIN prior p ON i.lease = p.lease
  LEFT JOIN ${tasks} r ON r.queue = $2 AND r.id = i.id LEFT JOIN specs s ON s.name = r.task
  WHERE i.queue = $2 AND i.due_at > ${NOW}
),
answered AS (
  SELECT j.kind, c.id, c.lease, c.failed + 1 AS delivery, c.payload,
    CASE j.kind WHEN 'start' THEN st.attempt WHEN 'unknown' THEN 0 ELSE j.attempt END AS attempt, j.position AS ord, c.meta
  FROM claimed c JOIN judged j ON j.id = c.id LEFT JOIN started st ON st.id = c.id
  UNION ALL
  SELECT k.kind, k.id, k.lease, k.failed + 1, k.payload, CASE k.kind WHEN 'unknown' THEN 0 ELSE k.attempt END,
    row_number() OVER (ORDER BY k.priority DESC, k.seq), k.meta
  FROM (
    SELECT pr.*, CASE
      WHEN pr.state = 'started' AND pr.run_lease = pr.lease THEN 'start'
      WHEN pr.state IS NULL THEN 'unknown'
      WHEN pr.state IN ${FINAL} THEN NULL
      WHEN NOT pr.known THEN 'unknown'
      WHEN pr.state = 'started' AND (pr.vis_ms = 0 OR pr.attempt >= pr.allowed) THEN 'spent'
      ELSE 'held' END AS kind
    FROM prior_rows pr
  ) k WHERE k.kind IS NOT NULL
)
SELECT a.kind, a.id, a.lease::text AS lease, a.delivery, a.payload, a.attempt, NULL::float8 AS next_due,
  ${sizeOf('wake')} + ${sizeOf('notified')} AS woke, a.ord, a.meta, NULL::text AS limited
FROM answered a
UNION ALL
SELECT 'none', NULL, NULL, NULL, NULL, NULL, CASE WHEN EXISTS (SELECT 1 FROM pick) THEN 0 ELSE coalesce(${PAUSE_LEFT}, (
    SELECT min(i.due_at) - ${NOW} FROM ${t.items} i WHERE i.queue = $2 AND i.due_at > ${NOW}
  ), -1) END::float8,
  ${sizeOf('wake')} + ${sizeOf('notified')}, 0, NULL, CASE WHEN EXISTS (SELECT 1 FROM paused) THEN 'p' END
WHERE NOT EXISTS (SELECT 1 FROM answered)
ORDER BY ord`;
}
