/**
 * Periodic and cron schedules: the next due time after a moment, and the loop a worker
 * runs per scheduled task. Each due time is claimed atomically in the store
 * (schedule_claim.lua), so it fires once however many workers run; missed ticks
 * collapse to one run, because the next due time is always the first one after now.
 */
import { CronExpressionParser } from 'cron-parser';
import { VisqRangeError } from '../errors.js';
import type { TaskSchedule } from './core.js';
import type { TaskStore } from './task-store.js';

/** The first due time strictly after `now` (ms). */
export function nextDue(schedule: TaskSchedule, now: number): number {
  if (schedule.kind === 'periodic') return (Math.floor(now / schedule.everyMs) + 1) * schedule.everyMs;
  const expression = CronExpressionParser.parse(schedule.cron, { currentDate: new Date(now), tz: schedule.tz });
  return expression.next().getTime();
}

/** Checks a cron expression and time zone now, so a bad one fails at registration. */
export function checkCron(cron: string, tz: string): void {
  // the zone first: cron-parser reports an unknown zone as a bad expression
  if (!isTimeZone(tz)) {
    throw new VisqRangeError(`Expected \`tz\` to be an IANA time zone such as 'UTC' or 'Europe/Paris', got ${JSON.stringify(tz)}`);
  }
  try {
    CronExpressionParser.parse(cron, { currentDate: new Date(), tz });
  } catch (cause) {
    throw new VisqRangeError(
      `Expected \`cron\` to be a cron expression, got ${JSON.stringify(cron)}: ${
        cause instanceof Error ? cause.message : String(cause)
      }`,
    );
  }
}

function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/** One claim round: fires the due time if it has come. Returns ms until the next round. */
export async function claimRound(
  records: TaskStore,
  base: string,
  name: string,
  schedule: TaskSchedule,
  fire: () => Promise<void>,
): Promise<number> {
  let state = await records.schedule(base, name, 'read', 0, 0);
  // every due time is computed from the store's clock, never this process's
  const next = nextDue(schedule, state.now);
  if (state.due < 0) state = await records.schedule(base, name, 'init', 0, next);
  if (state.due > next) state = await records.schedule(base, name, 'move', state.due, next);
  if (state.now >= state.due) {
    const claim = await records.schedule(base, name, 'fire', state.due, nextDue(schedule, state.now));
    if (claim.claimed) await fire();
    state = claim;
  }
  return Math.max(1, state.due - state.now);
}
