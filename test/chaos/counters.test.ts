/**
 * The counter check of the chaos run (counters.ts) on hand-made end states: it passes a
 * consistent one and names each counter that disagrees, so a chaos run that passes has
 * really compared them.
 */
import { describe, expect, it } from 'vitest';
import type { QueueStats, TaskMetrics, TaskRecord } from '../../src/index.js';
import { verifyCounters, type CounterFacts } from './counters.js';
import type { DataVerdict, TaskVerdict } from './verify.js';

function stats(totals: Partial<Record<keyof QueueStats, number>>): QueueStats {
  const zero: Record<keyof QueueStats, number> = {
    ready: 0, delayed: 0, inflight: 0, dead: 0, headAge: 0,
    puts: 0, deliveries: 0, dones: 0, expiries: 0, deadLettered: 0, dropped: 0, expired: 0, emptyReads: 0,
  };
  return { ...zero, ...totals } as QueueStats;
}

function metrics(fields: Pick<TaskMetrics, 'started' | 'done' | 'failed' | 'retried'>, timed: number): TaskMetrics {
  const buckets = [
    { le: 0.1, count: timed - 1 },
    { le: Number.POSITIVE_INFINITY, count: timed },
  ];
  return { queue: 'tasks', task: 'chaos', ...fields, runTime: { count: timed, sumSeconds: 1, buckets } };
}

/** Ten items: eight done (one on its second delivery), two dead after 3 deliveries each. */
function consistent(): CounterFacts {
  const records = new Map<string, TaskRecord | undefined>([
    ['t1', { state: 'done' } as TaskRecord],
    ['t2', { state: 'failed' } as TaskRecord],
  ]);
  return {
    data: stats({ puts: 10, deliveries: 15, dones: 8, expiries: 7, deadLettered: 2 }),
    tasks: stats({ puts: 2, deliveries: 4, dones: 1, expiries: 0, deadLettered: 1 }),
    taskMetrics: [metrics({ started: 4, done: 1, failed: 1, retried: 2 }, 4)],
    dataVerdict: { items: 10, done: 8, dead: 2, impliedDeliveries: 15 } as DataVerdict,
    taskVerdict: { runs: 4, refusedButRun: 0 } as TaskVerdict,
    records,
  };
}

describe('the chaos counter check', () => {
  it('passes counters that agree with the ledger and the end state', () => {
    expect(verifyCounters(consistent()).violations).toEqual([]);
  });

  it('takes a failed task left untimed: its last run died with its worker', () => {
    const facts = consistent();
    const untimed = metrics({ started: 4, done: 1, failed: 1, retried: 2 }, 3);
    expect(verifyCounters({ ...facts, taskMetrics: [untimed] }).violations).toEqual([]);
  });

  it('names a data counter that disagrees', () => {
    const facts = consistent();
    const verdict = verifyCounters({ ...facts, data: stats({ puts: 10, deliveries: 16, dones: 8, expiries: 7, deadLettered: 2 }) });
    expect(verdict.violations).toEqual([
      'counter data deliveries is 16, expected 15',
      'counter data deliveries vs dones + expiries is 16, expected 15',
    ]);
  });

  it('names a task counter that disagrees, and run-time buckets that do not add up', () => {
    const facts = consistent();
    const bad = { ...metrics({ started: 3, done: 2, failed: 1, retried: 2 }, 6) };
    const verdict = verifyCounters({ ...facts, taskMetrics: [bad] });
    expect(verdict.violations).toEqual([
      'counter tasks done is 2, expected 1..1',
      'counter tasks started is 3, expected 5..9007199254740991',
      'counter task chaos runs timed is 6, expected 4..5',
    ]);
  });
});
