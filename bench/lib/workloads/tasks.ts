/**
 * Tasks, in the shape of dsq's benchmark: push trivial `add(a, b)` tasks one call each
 * and in bulk (1000 per call) from one process, then process them with one worker
 * process at concurrency 1 and 50. At least 10,000 tasks per run, more if that lasts
 * under a second. visq uses its task defaults (at most once, no saved result), BullMQ
 * and bee-queue their fast settings (see the drivers).
 */
import { split, type Context } from '../context.js';
import type { SystemName } from '../protocol.js';
import { measureThroughput, type ThroughputRow } from '../throughput.js';

export const TASK_SYSTEMS: readonly SystemName[] = ['visq', 'bullmq', 'bee-queue'];
const BULK = 1000;
const MIN_TASKS = 10_000;
const FILLERS = 4;

export async function runTaskPush(ctx: Context): Promise<ThroughputRow[]> {
  const rows: ThroughputRow[] = [];
  for (const bulk of [1, BULK]) {
    for (const system of TASK_SYSTEMS.filter((s) => ctx.systems.includes(s))) {
      rows.push(
        await measureThroughput(ctx, {
          group: 'task-push',
          workload: bulk === 1 ? 'task push, 1 call per task' : `task push, bulk of ${bulk}`,
          system,
          timed: (n) => [{ agent: 0, job: { kind: 'put', system, target: 'tasks', count: n, batch: bulk } }],
          initialN: bulk === 1 || ctx.settings.quick ? MIN_TASKS : 5 * MIN_TASKS,
          minN: MIN_TASKS,
          step: BULK,
        }),
      );
    }
  }
  return rows;
}

export async function runTaskProcess(ctx: Context): Promise<ThroughputRow[]> {
  const rows: ThroughputRow[] = [];
  for (const concurrency of [1, 50]) {
    for (const system of TASK_SYSTEMS.filter((s) => ctx.systems.includes(s))) {
      rows.push(
        await measureThroughput(ctx, {
          group: 'task-process',
          workload: `task processing, 1 worker, concurrency ${concurrency}`,
          system,
          fill: (n) =>
            split(n, FILLERS, BULK).map((count, agent) => ({
              agent,
              job: { kind: 'put', system, target: 'tasks', count, batch: BULK },
            })),
          timed: (n) => [{ agent: 0, job: { kind: 'process', system, concurrency, count: n } }],
          initialN: MIN_TASKS,
          minN: MIN_TASKS,
          step: BULK,
        }),
      );
    }
  }
  return rows;
}
