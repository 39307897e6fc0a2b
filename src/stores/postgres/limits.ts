/**
 * A limited read on PostgreSQL (see sql/limits.ts for why it is one transaction of four
 * statements): lock the queue's limit row, count its live leases, read what the limits
 * allow, write the bucket back. Shared by data reads and task claims.
 */
import { bucketAt, type LimitedBy, type ReadLimits } from '../../data/limits.js';
import type { Row, Statement } from './connection.js';
import { finishStatement, inflightStatement, limitSignal, lockStatement } from './sql/limits.js';
import type { Tables } from './sql/lib.js';
import type { StoreCore } from './store.js';

/** Runs a statement in the limited read's transaction. */
export type Query = (stmt: Statement, values: unknown[]) => Promise<Row[]>;

/** What a limited read did: its rows, or why it read nothing and for how long (ms, -1: unknown). */
export type Gated = { readonly rows: Row[] } | { readonly limited: LimitedBy; readonly waitMs: number };

/**
 * Runs `read(allowed, query)` in one transaction with queue `base`'s limit row locked,
 * `allowed` being what the limits let a read of `count` take now (at least 1); or reads
 * nothing and says why. `delivered(rows)` counts the items the read handed out.
 */
export async function gatedRead(
  core: StoreCore,
  t: Tables,
  base: string,
  clock: string,
  count: number,
  limits: ReadLimits,
  operation: string,
  read: (allowed: number, query: Query) => Promise<Row[]>,
  delivered: (rows: Row[]) => number,
): Promise<Gated> {
  const statement = (name: string, build: (t: Tables) => string): Statement => core.statement(`${name}:${t.items}`, () => build(t));
  let outcome: Gated = { rows: [] };
  await core.transaction(operation, async (query) => {
    const [lock] = await query(statement('limits/lock', lockStatement), [clock, base]);
    const now = Number(lock?.now);
    const pausedUntil = Number(lock?.paused_until ?? 0);
    const tatUs = Number(lock?.tat_us ?? 0);
    if (pausedUntil > now) {
      outcome = { limited: 'paused', waitMs: pausedUntil - now };
      return;
    }
    let allowed = count;
    let inflight = 0;
    if (limits.maxInflight > 0) {
      const [live] = await query(statement('limits/inflight', inflightStatement), [base, now]);
      inflight = Number(live?.inflight ?? 0);
      if (inflight >= limits.maxInflight) {
        const next = live?.next_deadline;
        outcome = { limited: 'inflight', waitMs: next === null || next === undefined ? -1 : Math.max(0, Number(next) - now) };
        await query(statement('limits/finish', finishStatement), [base, tatUs, 'set']);
        return;
      }
      allowed = Math.min(allowed, limits.maxInflight - inflight);
    }
    const bucket = limits.intervalUs > 0 ? bucketAt(tatUs, now, limits) : undefined;
    if (bucket) {
      if (bucket.tokens <= 0) {
        outcome = { limited: 'rate', waitMs: bucket.waitMs };
        return;
      }
      allowed = Math.min(allowed, bucket.tokens);
    }
    const rows = await read(allowed, query);
    const n = delivered(rows);
    // a read that leaves slots free clears the slot-waiter flag: any reader the cap held
    // was woken by the steps that freed those slots
    const flag = limits.maxInflight > 0 && inflight + n < limits.maxInflight ? 'clear' : 'keep';
    if ((bucket && n > 0) || flag === 'clear') {
      const tat = bucket && n > 0 ? bucket.tat + n * limits.intervalUs : tatUs;
      await query(statement('limits/finish', finishStatement), [base, tat, flag]);
    }
    outcome = { rows };
  });
  return outcome;
}

/**
 * The limit signal's cursor of queue `base`, for a read held back by a pause or the cap;
 * taken before the read is sent, so that a wake-up heard while it runs counts.
 */
export function limitCursor(core: StoreCore, base: string): string {
  return `l:${core.wakeups.cursor(limitSignal(base))}`;
}

/** Waits on what a cursor names: the queue's wake-ups, or its limit signal's ("l:" cursors). */
export function waitOnCursor(core: StoreCore, base: string, cursor: string, timeoutMs: number, signal?: AbortSignal): Promise<void> {
  if (cursor.startsWith('l:')) return core.wakeups.wait(limitSignal(base), cursor.slice(2), timeoutMs, signal);
  return core.wakeups.wait(base, cursor, timeoutMs, signal);
}
