/**
 * Tasks, in the shape of dsq's benchmark: push trivial `add(a, b)` tasks one call each
 * and in bulk (1000 per call) from one process, then process them with one worker
 * process at concurrency 1 and 50. At least 10,000 tasks per run, more if that lasts
 * under a second. Every row is measured twice, once per task profile: each system's
 * defaults (visq at most once, BullMQ and bee-queue in their fast settings) and
 * at least once (visq `attempts: 3, visTimeout: 30`, the peers' equivalent; see the
 * drivers' header comments).
 */
import { split, type Context } from '../context.js';
import { TASK_PROFILES, type SystemName, type TaskProfile } from '../protocol.js';
import { measureThroughput, type ThroughputRow } from '../throughput.js';

export const TASK_SYSTEMS: readonly SystemName[] = ['visq', 'bullmq', 'bee-queue'];
const BULK = 1000;
const MIN_TASKS = 10_000;
const FILLERS = 4;

/** How a profile is named in the rows' workload names. */
export const PROFILE_LABEL: Readonly<Record<TaskProfile, string>> = {
  defaults: 'defaults',
  'at-least-once': 'at least once',
};

/** The rows' workload names, which the goals (goals.ts) look up. */
export const taskWorkload = {
  push: (bulk: number, profile: TaskProfile): string =>
    `${bulk === 1 ? 'task push, 1 call per task' : `task push, bulk of ${bulk}`}, ${PROFILE_LABEL[profile]}`,
  process: (concurrency: number, profile: TaskProfile): string =>
    `task processing, 1 worker, concurrency ${concurrency}, ${PROFILE_LABEL[profile]}`,
  latency: (profile: TaskProfile): string => `latency task add → start, ${PROFILE_LABEL[profile]}`,
};

export async function runTaskPush(ctx: Context): Promise<ThroughputRow[]> {
  const rows: ThroughputRow[] = [];
  for (const profile of TASK_PROFILES) {
    for (const bulk of [1, BULK]) {
      for (const system of TASK_SYSTEMS.filter((s) => ctx.systems.includes(s))) {
        rows.push(
          await measureThroughput(ctx, {
            group: `task-push, ${profile}`,
            workload: taskWorkload.push(bulk, profile),
            system,
            profile,
            timed: (n) => [{ agent: 0, job: { kind: 'put', system, target: 'tasks', count: n, batch: bulk, profile } }],
            initialN: bulk === 1 || ctx.settings.quick ? MIN_TASKS : 5 * MIN_TASKS,
            minN: MIN_TASKS,
            step: BULK,
          }),
        );
      }
    }
  }
  return rows;
}

export async function runTaskProcess(ctx: Context): Promise<ThroughputRow[]> {
  const rows: ThroughputRow[] = [];
  for (const profile of TASK_PROFILES) {
    for (const concurrency of [1, 50]) {
      for (const system of TASK_SYSTEMS.filter((s) => ctx.systems.includes(s))) {
        rows.push(
          await measureThroughput(ctx, {
            group: `task-process, ${profile}`,
            workload: taskWorkload.process(concurrency, profile),
            system,
            profile,
            fill: (n) =>
              split(n, FILLERS, BULK).map((count, agent) => ({
                agent,
                job: { kind: 'put', system, target: 'tasks', count, batch: BULK, profile },
              })),
            timed: (n) => [{ agent: 0, job: { kind: 'process', system, concurrency, count: n, profile } }],
            initialN: MIN_TASKS,
            minN: MIN_TASKS,
            step: BULK,
          }),
        );
      }
    }
  }
  return rows;
}
