/**
 * Rate limits, in-flight caps and pauses on PostgreSQL (docs/rate-limits.md), the twin
 * of the Redis scripts' lib/limits.lua. A queue's limit state is one row of S.limits:
 *   tat_us        GCRA theoretical arrival time, µs (0: the bucket is full)
 *   paused_until  reads are paused until then, ms (0: not paused); dq.limit()
 *   slot_waiter   a read found the in-flight cap reached since the last read that left
 *                 slots free: the statements that end leases (done, release, a task
 *                 settle) NOTIFY the queue's limit signal while it is set
 * The in-flight count is the queue's live leased rows (lease set, due_at later than now):
 * the leases themselves, so done and expiry free a slot with nothing to leak.
 *
 * A plain read only checks the pause (a primary-key probe in its statement). A limited
 * read is one transaction of four statements: lock the queue's row (so that limited
 * readers take turns and each sees the leases the one before committed: a statement's
 * snapshot is taken when it starts, so the count must come in a statement after the
 * lock), count the live leases, read (the usual statement, asking for what the limits
 * allow), then write the bucket back.
 *
 * The limit signal is the NOTIFY payload "<queue>\nlimits": a reader held back by a pause
 * or the cap LISTENs on it (puts, which cannot help it, NOTIFY the queue itself), and a
 * timer to the pause's end or the next lease deadline backs it up, as every wait here.
 */
import { CLOCK, NOW, type Tables } from './lib.js';

/** The wake-up name of the limit signal of queue `base` (see wakeups.ts). */
export function limitSignal(base: string): string {
  return `${base}\nlimits`;
}

/** Migration 3: the limit state table. */
export function limitsTable(s: string): string {
  return `
CREATE TABLE ${s}.limits (
  queue        text COLLATE "C" NOT NULL PRIMARY KEY, -- the queue's key base
  tat_us       bigint  NOT NULL DEFAULT 0,
  paused_until bigint  NOT NULL DEFAULT 0,
  slot_waiter  boolean NOT NULL DEFAULT false
) WITH (fillfactor = 50, autovacuum_vacuum_scale_factor = 0.02);`;
}

/** CTE `paused(paused_until)`: one row while queue $2 is paused. */
export function pausedCte(t: Tables): string {
  return `paused AS (
  SELECT l.paused_until FROM ${t.schema}.limits l WHERE l.queue = $2 AND l.paused_until > ${NOW}
)`;
}

/** An SQL condition: queue $2 is not paused (after {@link pausedCte}). */
export const NOT_PAUSED = 'NOT EXISTS (SELECT 1 FROM paused)';

/** For an empty read's row: ms until the pause ends, when paused (after {@link pausedCte}). */
export const PAUSE_LEFT = `(SELECT p.paused_until - ${NOW} FROM paused p)`;

/**
 * A SELECT for a statement's `wake` CTE (its own, or a `UNION ALL` arm of one): NOTIFYs
 * the limit signal of queue $2 when `freed` (an SQL condition: a lease ended) and a
 * capped reader may be waiting.
 */
export function slotWake(t: Tables, freed: string): string {
  return `SELECT pg_notify(${t.channel}, $2 || E'\\nlimits') FROM ${t.schema}.limits l
    WHERE l.queue = $2 AND l.slot_waiter AND ${freed}`;
}

/** Locks queue $2's limit row (made on first use); returns its state and the time. $1 clock. */
export function lockStatement(t: Tables): string {
  return `WITH ${CLOCK}
INSERT INTO ${t.schema}.limits AS l (queue) VALUES ($2) ON CONFLICT (queue) DO UPDATE SET queue = l.queue
RETURNING l.tat_us::text AS tat_us, l.paused_until::text AS paused_until, ${NOW}::text AS now`;
}

/** The live leases of queue $1 at $2 (ms): how many, and the earliest deadline (null for none). */
export function inflightStatement(t: Tables): string {
  return `SELECT count(*)::int AS inflight, min(i.due_at)::text AS next_deadline FROM ${t.items} i
WHERE i.queue = $1 AND i.lease IS NOT NULL AND i.due_at > $2::bigint`;
}

/** Writes queue $1's bucket back: $2 the arrival time (µs), $3 'set' / 'clear' / 'keep' the slot waiter flag. */
export function finishStatement(t: Tables): string {
  return `UPDATE ${t.schema}.limits SET tat_us = $2::bigint,
  slot_waiter = CASE $3::text WHEN 'set' THEN true WHEN 'clear' THEN false ELSE slot_waiter END
WHERE queue = $1`;
}

/**
 * dq.limit(): pauses queue $2 for $3 ms from now (0: lifts the pause) and NOTIFYs its
 * limit signal. Returns the pause's end (ms, 0 when lifted). $1 clock.
 */
export function pauseStatement(t: Tables): string {
  return `WITH ${CLOCK},
set AS (
  INSERT INTO ${t.schema}.limits AS l (queue, paused_until)
  VALUES ($2, CASE WHEN $3::bigint > 0 THEN ${NOW} + $3::bigint ELSE 0 END)
  ON CONFLICT (queue) DO UPDATE SET paused_until = excluded.paused_until
  RETURNING l.paused_until
),
wake AS (SELECT pg_notify(${t.channel}, $2 || E'\\nlimits'))
SELECT (SELECT paused_until FROM set)::text AS paused_until, (SELECT count(*) FROM wake)::int AS woke`;
}
