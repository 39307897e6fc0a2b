/**
 * tasks/settle: applies settle ops of one queue's task runs in one statement: the record
 * change and the item's settlement of each op go together (a done with its saved result,
 * a retry, a failure with its dead letter), and fetched tasks are started. The ops of one
 * statement name distinct tasks and distinct items (the store splits a batch that does
 * not into rounds, run in order in one transaction), so that each op is judged on the
 * state before the statement, as the ops of one Lua script are judged one after another.
 *
 * $1 clock, $2 task queue, $3 its dead-letter queue
 * $4 the queue's task specs, JSON (see lib.ts specs)
 * $5 the queue's task event channel
 * $6 true to NOTIFY readers when items become visible (the store throttles it)
 * The ops, as arrays of one element per op, in order:
 * $7 kind: start, done, retry, fail, dead (a fail with forceDead: an item that is no
 *    task), discard, handBack
 * $8 the item id of the op's lease, $9 its lease token (both null for a lease that cannot be live)
 * $10 task id; $11 task name; $12 start: the item's first delivery
 * $13 done, retry, fail: the attempt; $14 the run's ms (-1: no run ended here)
 * $15 done: the result's JSON, or null; $16 retry, fail: the error; $17 the same, cut
 *    for the latest failures (tasks/records.ts FAILURE_ERROR_BYTES)
 * $18 handBack: take back the start this lease made; $19 handBack: the delay in ms
 * Returns one row per op, in order: applied, state and attempt of the record afterwards
 *   ('' and 0 without one), dead (the item went to the dead letters); and in each row,
 *   visible: whether items became visible now (for the store's wake-ups).
 *
 * Per op, as in stores/memory/task-store.ts and scripts/tasks/settle.lua:
 *   start    a live delivery of a task with a spec only. From queued/delayed, or started
 *            by another lease (its worker died or hung) with runs left: started under
 *            this lease, one more run. Started under this lease: acknowledged (the same
 *            start sent again). Spent (started by another lease, its last run, or at most
 *            once): failed, item dead-lettered or dropped. Final: the item is finished
 *            without a run (but failed at the item's first delivery, a redriven dead
 *            letter, and no record at all: a fresh start).
 *   done     the record becomes done (with the result) from any state but a final one: a
 *            finished run is never thrown away; the item is finished.
 *   retry    from started by the same run: queued (delayed with the spec's retry delay)
 *            with the error; the item is visible again after the delay, the delivery counted.
 *   fail     from started (or queued/delayed) by the same run: failed for good; the item
 *            is dead-lettered (the spec's useDead) or dropped.
 *   dead     the item goes to the dead letters.  discard  the item is finished.
 *   handBack the item is visible again after the delay, no delivery used; with $18, a
 *            start under this lease is taken back (queued, one run less).
 * An op whose record change is not allowed still settles its item when that cannot lose a
 * run: a task final elsewhere has its item finished. An item finished while its task's
 * record says cancelled starts that record's time to be kept. Every record change is a
 * task event and counts in the task metrics; failed runs go to the latest failures.
 * Side effects besides: final records whose time has passed are deleted, TRIM_SLICE per
 * call; dones, dead letters and drops count in the running totals.
 * Invariant: as leases.ts: only live leases act on items, locked in id order; records
 *   are locked after every item (in id order), as in claim.ts.
 */
import { among, CLOCK, count, liveLeases, NOW, sizeOf, type Tables } from '../lib.js';
import { slotWake } from '../limits.js';
import { DIED, FINAL, logFailures, meter, notifyEvents, specs, TRIM_SLICE } from './lib.js';

/** The error of a spent task, as an SQL literal. */
const DIED_LITERAL = `'${DIED.replace(/'/g, "''")}'`;

export function settleStatement(t: Tables): string {
  const tasks = `${t.schema}.tasks`;
  return `WITH ${CLOCK},
ops AS (
  SELECT * FROM unnest($7::text[], $8::text[], $9::bigint[], $10::text[], $11::text[], $12::boolean[], $13::int[],
    $14::float8[], $15::text[], $16::text[], $17::text[], $18::boolean[], $19::bigint[]) WITH ORDINALITY
    AS o(kind, item, token, task_id, task, first, attempt, run_ms, result, error, cut, unstart, delay_ms, ord)
),
${specs('$4')},
live AS (
  SELECT i.id, i.lease, i.failed, i.attempts, i.use_dead, i.ttl FROM ${liveLeases(t, '$8::text[]', '$9::bigint[]')}
),
rec AS (
  -- after every item is locked (the count runs first, as an init plan)
  SELECT r.* FROM (
    SELECT DISTINCT k.id COLLATE "C" AS id FROM unnest($10::text[]) AS k(id) WHERE (SELECT count(*) FROM live) >= 0 ORDER BY 1
  ) k
  CROSS JOIN LATERAL (SELECT * FROM ${tasks} r WHERE r.queue = $2 AND r.id = k.id FOR UPDATE) r
),
d AS (
  SELECT o.ord, o.kind, o.item, o.token, o.task_id, o.run_ms, o.result, o.error, o.cut, o.delay_ms, o.attempt,
    l.id IS NOT NULL AS live, r.id IS NOT NULL AS has_rec, coalesce(r.task, o.task) AS task,
    r.state AS stored, r.attempt AS stored_attempt, r.keep_ms,
    -- a failed task's redriven dead letter, at its first delivery, starts afresh
    o.kind = 'start' AND r.state = 'failed' AND o.first AS fresh,
    CASE WHEN o.kind = 'start' AND r.state = 'failed' AND o.first THEN 'queued' ELSE r.state END AS was,
    CASE WHEN o.kind = 'start' AND r.state = 'failed' AND o.first THEN 0 ELSE r.attempt END AS was_attempt,
    r.run_lease, r.error AS old_error,
    s.name IS NOT NULL AS known, s.attempts AS allowed, s.vis_ms, coalesce(s.use_dead, false) AS use_dead,
    coalesce(s.keep_ms, 0) AS keep_for, s.result_ms, coalesce(s.retry_ms, 0) AS retry_ms,
    o.unstart AND r.state = 'started' AND r.run_lease = o.token AS unstarted
  FROM ops o
  LEFT JOIN live l ON l.id = o.item AND l.lease = o.token
  LEFT JOIN rec r ON r.id = o.task_id
  LEFT JOIN specs s ON s.name = coalesce(r.task, o.task)
),
judged AS (
  SELECT d.*, coalesce(d.was IN ${FINAL}, false) AS final, CASE d.kind
    WHEN 'start' THEN CASE
      WHEN NOT d.live OR NOT d.known THEN 'none'
      WHEN NOT d.has_rec THEN 'begin'
      WHEN d.was IN ${FINAL} THEN 'finish'
      WHEN d.was = 'started' AND d.run_lease = d.token THEN 'again'
      WHEN d.was = 'started' AND (d.vis_ms = 0 OR d.was_attempt >= d.allowed) THEN 'spent'
      ELSE 'begin' END
    WHEN 'done' THEN CASE WHEN d.has_rec AND d.was NOT IN ${FINAL} THEN 'done' ELSE 'finish' END
    WHEN 'retry' THEN CASE
      WHEN d.was = 'started' AND d.was_attempt = d.attempt THEN 'retry'
      WHEN NOT d.has_rec OR d.was IN ${FINAL} THEN 'finish' ELSE 'none' END
    WHEN 'fail' THEN CASE
      WHEN d.has_rec AND d.was NOT IN ${FINAL} AND d.was_attempt = d.attempt THEN 'fail'
      WHEN NOT d.has_rec OR d.was IN ${FINAL} THEN 'finish' ELSE 'none' END
    WHEN 'dead' THEN 'bury'
    WHEN 'discard' THEN 'finish'
    ELSE 'handBack' END AS step
  FROM d
),
a AS (
  SELECT j.*,
    CASE
      WHEN NOT j.live THEN NULL
      WHEN j.step IN ('finish', 'done') THEN 'finish'
      WHEN j.step IN ('spent', 'fail') THEN CASE WHEN j.use_dead THEN 'dead' ELSE 'drop' END
      WHEN j.step = 'bury' THEN 'dead'
      WHEN j.step = 'retry' THEN 'count'
      WHEN j.step = 'handBack' THEN 'keep'
    END AS item_action,
    CASE j.step WHEN 'retry' THEN j.retry_ms WHEN 'handBack' THEN j.delay_ms ELSE 0 END AS item_delay,
    CASE j.step
      WHEN 'begin' THEN 'started'
      WHEN 'spent' THEN 'failed'
      WHEN 'done' THEN 'done'
      WHEN 'retry' THEN CASE WHEN j.retry_ms > 0 THEN 'delayed' ELSE 'queued' END
      WHEN 'fail' THEN 'failed'
      WHEN 'handBack' THEN CASE WHEN j.unstarted THEN 'queued' END
    END AS new_state,
    CASE j.step
      WHEN 'begin' THEN coalesce(j.was_attempt, 0) + 1
      WHEN 'handBack' THEN j.was_attempt - 1
      ELSE j.was_attempt END AS new_attempt,
    CASE j.step
      WHEN 'begin' THEN CASE WHEN j.fresh THEN NULL ELSE j.old_error END
      WHEN 'spent' THEN ${DIED_LITERAL}
      WHEN 'retry' THEN j.error
      WHEN 'fail' THEN j.error
      ELSE j.old_error END AS new_error,
    CASE WHEN j.step IN ('spent', 'done', 'fail') THEN ${NOW} + j.keep_for END AS new_expires
  FROM judged j
),
ended AS (
  SELECT l.id, l.ttl, a.item_delay AS delay_ms, l.failed + CASE WHEN a.item_action = 'count' THEN 1 ELSE 0 END AS failed,
    CASE a.item_action
      WHEN 'finish' THEN 'finished'
      WHEN 'dead' THEN 'dead'
      WHEN 'drop' THEN 'dropped'
      WHEN 'count' THEN CASE WHEN l.failed + 1 >= l.attempts THEN CASE WHEN l.use_dead THEN 'dead' ELSE 'dropped' END ELSE 'requeued' END
      ELSE 'requeued' END AS outcome
  FROM a JOIN live l ON l.id = a.item AND l.lease = a.token WHERE a.item_action IS NOT NULL
),
back AS (
  UPDATE ${t.items} i SET lease = NULL, attempts = NULL, use_dead = NULL, failed = e.failed,
    due_at = CASE WHEN e.delay_ms > 0 THEN ${NOW} + e.delay_ms END,
    expires_at = CASE WHEN e.delay_ms <= 0 AND e.ttl > 0 THEN ${NOW} + e.ttl END
  FROM ended e WHERE e.outcome = 'requeued' AND i.queue = $2 AND i.id = e.id
  RETURNING i.id, i.due_at
),
gone AS (
  DELETE FROM ${t.items} i USING ended e WHERE e.outcome <> 'requeued' AND i.queue = $2 AND i.id = e.id
  RETURNING i.id, i.seq, i.priority, i.payload, e.outcome, i.meta
),
buried AS (
  INSERT INTO ${t.dead} (queue, id, seq, priority, ttl, failed, entered_at, payload, meta)
  SELECT $3, g.id, nextval('${t.schema.replace(/'/g, "''")}.ids'), g.priority, 0, 0, ${NOW}, g.payload, g.meta
  FROM gone g WHERE g.outcome = 'dead' ORDER BY g.seq
  RETURNING id
),
written AS (
  INSERT INTO ${tasks} AS r (queue, id, task, state, attempt, at, run_lease, error, result, result_until, expires_at)
  SELECT $2, a.task_id, a.task, a.new_state, a.new_attempt, ${NOW},
    CASE WHEN a.new_state = 'started' THEN a.token END, a.new_error,
    CASE WHEN a.step = 'done' THEN a.result END,
    CASE WHEN a.step = 'done' AND a.result IS NOT NULL THEN ${NOW} + coalesce(a.result_ms, 1) END,
    a.new_expires
  FROM a WHERE a.new_state IS NOT NULL
  ON CONFLICT (queue, id) DO UPDATE SET task = excluded.task, state = excluded.state, attempt = excluded.attempt,
    at = excluded.at, run_lease = excluded.run_lease, error = excluded.error, result = excluded.result,
    result_until = excluded.result_until, keep_ms = NULL, expires_at = excluded.expires_at
  RETURNING r.id, r.state, r.attempt
),
released AS (
  UPDATE ${tasks} r SET expires_at = ${NOW} + r.keep_ms, keep_ms = NULL
  FROM a WHERE a.item_action = 'finish' AND a.stored = 'cancelled' AND a.keep_ms IS NOT NULL AND a.new_state IS NULL
    AND r.queue = $2 AND r.id = a.task_id
),
expired AS (
  DELETE FROM ${tasks} r WHERE r.queue = $2 AND ${among('r', `
    SELECT e.id FROM ${tasks} e WHERE e.queue = $2 AND e.expires_at <= ${NOW} AND e.id <> ALL($10::text[])
    ORDER BY e.expires_at LIMIT ${TRIM_SLICE} FOR UPDATE SKIP LOCKED
  `)}
),
${count(t, {
  dones: sizeOf('gone', "outcome = 'finished'"),
  dead_lettered: sizeOf('buried'),
  dropped: sizeOf('gone', "outcome = 'dropped'"),
})},
shown AS (SELECT EXISTS (SELECT 1 FROM back WHERE due_at IS NULL) AS visible),
wake AS (
  SELECT pg_notify(${t.channel}, $3) WHERE EXISTS (SELECT 1 FROM buried)
  UNION ALL SELECT pg_notify(${t.channel}, $2) WHERE $6::boolean AND (SELECT visible FROM shown)
  UNION ALL ${slotWake(t, 'EXISTS (SELECT 1 FROM ended)')}
),
events AS (SELECT task_id AS id, new_state AS state, ord FROM a WHERE new_state IS NOT NULL),
${notifyEvents('events', '$5::text')},
transitions AS (
  SELECT task, new_state AS state, step = 'retry' AS failed_run, CASE WHEN step = 'spent' THEN -1 ELSE run_ms END AS run_ms
  FROM a WHERE step IN ('begin', 'spent', 'done', 'retry', 'fail')
),
${meter(t, 'transitions', "SELECT task || '|started', -1 FROM a WHERE unstarted")},
failures AS (
  SELECT task_id, task, CASE WHEN step = 'spent' THEN ${DIED_LITERAL} ELSE cut END AS error, was_attempt AS attempt,
    step <> 'retry' AS final, ord
  FROM a WHERE step IN ('retry', 'fail', 'spent')
),
${logFailures(t, 'failures')}
SELECT a.ord,
  CASE a.kind
    WHEN 'start' THEN a.step IN ('begin', 'again', 'spent')
    WHEN 'done' THEN a.step = 'done'
    WHEN 'retry' THEN a.step = 'retry'
    WHEN 'fail' THEN a.step = 'fail'
    ELSE a.live END AS applied,
  coalesce(w.state, a.stored, '') AS state, coalesce(w.attempt, a.stored_attempt, 0) AS attempt,
  CASE WHEN a.step IN ('spent', 'fail') THEN a.use_dead WHEN a.step = 'bury' THEN a.live ELSE false END AS dead,
  (SELECT visible FROM shown) AS visible, ${sizeOf('wake')} + ${sizeOf('notified')} AS woke
FROM a LEFT JOIN written w ON w.id = a.task_id
ORDER BY a.ord`;
}
