/**
 * The metric counters after a chaos run: the running totals the scripts keep in Redis
 * (stats()) and the task metrics must tell the same story as the ledger and the end
 * state, however many processes were killed, replies lost and restarts survived.
 *
 * Exact where the run settles it: every item put ended done, dead-lettered, dropped or
 * expired; every delivery of a data item ended in a done or an expired lease (the data
 * consumers never release); the number of deliveries of each item is known from its end
 * (a done item's last delivery, a dead one's attempts). Bounds where it cannot: a task
 * run whose worker was killed before it wrote its ledger line was started all the same,
 * and a task queue's deliveries also end in releases, which are not counted.
 */
import type { QueueStats, TaskMetrics, TaskRecord } from '../../src/index.js';
import type { DataVerdict, TaskVerdict } from './verify.js';

export interface CounterFacts {
  /** stats() of the data queue and of the task queue, read once both settled. */
  readonly data: QueueStats;
  readonly tasks: QueueStats;
  readonly taskMetrics: readonly TaskMetrics[];
  readonly dataVerdict: DataVerdict;
  /** Its runs are the ledger's; its refusedButRun tasks (a violation of their own) were counted too. */
  readonly taskVerdict: TaskVerdict;
  /** The status record of every executed task at the end. */
  readonly records: ReadonlyMap<string, TaskRecord | undefined>;
}

export interface CounterFigures {
  readonly dataPuts: number;
  readonly dataDeliveries: number;
  readonly dataExpiries: number;
  readonly tasksStarted: number;
  readonly tasksDone: number;
  readonly tasksFailed: number;
  readonly tasksRetried: number;
}

export interface CounterVerdict {
  readonly figures: CounterFigures;
  readonly violations: string[];
}

function sum(metrics: readonly TaskMetrics[], field: 'started' | 'done' | 'failed' | 'retried'): number {
  return metrics.reduce((total, m) => total + m[field], 0);
}

export function verifyCounters(facts: CounterFacts): CounterVerdict {
  const violations: string[] = [];
  const equal = (what: string, counted: number, expected: number): void => {
    if (counted !== expected) violations.push(`counter ${what} is ${counted}, expected ${expected}`);
  };
  const within = (what: string, counted: number, low: number, high: number): void => {
    if (counted < low || counted > high) violations.push(`counter ${what} is ${counted}, expected ${low}..${high}`);
  };
  const { data, tasks, dataVerdict: d, taskVerdict: t } = facts;

  equal('data puts', data.puts, d.items);
  equal('data dones', data.dones, d.done);
  equal('data deadLettered', data.deadLettered, d.dead);
  equal('data dropped', data.dropped, 0);
  equal('data expired (ttl)', data.expired, 0);
  equal('data deliveries', data.deliveries, d.impliedDeliveries);
  equal('data deliveries vs dones + expiries', data.deliveries, data.dones + data.expiries);
  equal('data puts vs its outcomes', data.puts, data.dones + data.deadLettered + data.dropped + data.expired);

  equal('task queue puts vs its outcomes', tasks.puts, tasks.dones + tasks.deadLettered + tasks.dropped + tasks.expired);
  within('task queue deliveries', tasks.deliveries, tasks.dones + tasks.expiries, Number.MAX_SAFE_INTEGER);

  const records = [...facts.records.values()];
  const recordsIn = (state: string): number => records.filter((r) => r?.state === state).length;
  const started = sum(facts.taskMetrics, 'started');
  const done = sum(facts.taskMetrics, 'done');
  const failed = sum(facts.taskMetrics, 'failed');
  const retried = sum(facts.taskMetrics, 'retried');
  within('tasks done', done, recordsIn('done'), recordsIn('done') + t.refusedButRun);
  within('tasks failed', failed, recordsIn('failed'), recordsIn('failed') + t.refusedButRun);
  within('tasks started', started, Math.max(t.runs, done + failed + retried), Number.MAX_SAFE_INTEGER);
  for (const m of facts.taskMetrics) {
    const counts = m.runTime.buckets.map((b) => b.count);
    if (counts.some((c, i) => i > 0 && c < (counts[i - 1] ?? 0))) {
      violations.push(`task ${m.task}: run-time buckets are not cumulative: ${counts.join(', ')}`);
    }
    equal(`task ${m.task} run-time +Inf bucket`, counts.at(-1) ?? 0, m.runTime.count);
    // a task whose last run died with its worker fails at its next delivery, untimed
    within(`task ${m.task} runs timed`, m.runTime.count, m.done + m.retried, m.done + m.failed + m.retried);
  }
  return {
    figures: {
      dataPuts: data.puts,
      dataDeliveries: data.deliveries,
      dataExpiries: data.expiries,
      tasksStarted: started,
      tasksDone: done,
      tasksFailed: failed,
      tasksRetried: retried,
    },
    violations,
  };
}
