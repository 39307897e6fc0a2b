/**
 * Task metrics: per task name, runs started, tasks done, tasks failed, runs retried, and a
 * run-time histogram, counted by the status transitions themselves
 * (the stores' task steps, e.g. src/stores/redis/scripts/lib/tasks.lua) so that every process
 * sees the same totals.
 * This module holds their vocabulary: the buckets, the increments of one transition (for
 * the in-process records), and the typed view of the stored counts.
 */

/** Upper bounds (ms) of the run-time histogram's buckets; above the last is +Inf. Same as the script. */
export const RUN_BUCKETS_MS = [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000] as const;

/** The metrics of one task of a queue. */
export interface TaskMetrics {
  readonly queue: string;
  readonly task: string;
  /** Runs started. */
  readonly started: number;
  /** Tasks that finished successfully. */
  readonly done: number;
  /** Tasks that failed for good (their runs spent). */
  readonly failed: number;
  /** Runs that failed and were retried. */
  readonly retried: number;
  /** Run time of the runs that ended (done, failed or retried), each rounded up to a whole ms. */
  readonly runTime: {
    readonly count: number;
    readonly sumSeconds: number;
    /** Cumulative counts, Prometheus style: runs that took at most `le` seconds. */
    readonly buckets: readonly { readonly le: number; readonly count: number }[];
  };
}

/** The counts one applied transition adds, as the script counts them. */
export function transitionIncrements(task: string, to: string, failedRun: boolean, runMs: number): [string, number][] {
  const out: [string, number][] = [];
  if (to === 'started') out.push([`${task}|started`, 1]);
  else if (to === 'done' || to === 'failed') out.push([`${task}|${to}`, 1]);
  else if ((to === 'queued' || to === 'delayed') && failedRun) out.push([`${task}|retried`, 1]);
  if (to !== 'started' && to !== 'cancelled' && runMs >= 0) {
    const bound = RUN_BUCKETS_MS.find((b) => runMs <= b);
    out.push([`${task}|le|${bound === undefined ? 'inf' : bound}`, 1], [`${task}|runs`, 1], [`${task}|ms`, Math.ceil(runMs)]);
  }
  return out;
}

/** The typed metrics of a queue from its stored counts, one entry per task name, sorted. */
export function parseTaskMetrics(queue: string, counts: Record<string, number>): TaskMetrics[] {
  const byTask = new Map<string, Map<string, number>>();
  for (const [field, value] of Object.entries(counts)) {
    const bar = field.indexOf('|');
    if (bar < 0) continue;
    const task = field.slice(0, bar);
    const fields = byTask.get(task) ?? new Map<string, number>();
    fields.set(field.slice(bar + 1), value);
    byTask.set(task, fields);
  }
  return [...byTask.keys()].sort().map((task) => {
    const fields = byTask.get(task) as Map<string, number>;
    const get = (name: string): number => fields.get(name) ?? 0;
    let cumulative = 0;
    const buckets = [...RUN_BUCKETS_MS, Number.POSITIVE_INFINITY].map((bound) => {
      cumulative += get(`le|${Number.isFinite(bound) ? bound : 'inf'}`);
      return { le: bound / 1000, count: cumulative };
    });
    return {
      queue,
      task,
      started: get('started'),
      done: get('done'),
      failed: get('failed'),
      retried: get('retried'),
      runTime: { count: get('runs'), sumSeconds: get('ms') / 1000, buckets },
    };
  });
}
