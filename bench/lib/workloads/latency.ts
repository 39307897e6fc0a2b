/**
 * Latency under a light steady load: one process sends items (or tasks) one at a time at
 * `latencyRate` per second, stamped with the system-wide monotonic clock; another
 * receives them (a blocking read of up to 100, then done / XACK+XDEL) or runs them (a
 * worker at concurrency 50) and records receive time − stamp. Data: put → get, visq
 * against Streams. Tasks: add → start, visq against BullMQ and bee-queue, at each task
 * profile (the worker's and the tasks' settings, see tasks.ts). Percentiles are
 * over the samples of all measured repetitions together, after a discarded warm-up.
 */
import { cellFailed, flush, leastDisturbed, RETRIES_PER_CELL, runPhase, type Context } from '../context.js';
import { TASK_PROFILES, type SystemName, type TaskProfile, type Target } from '../protocol.js';
import { percentiles, spread, type Percentiles, type Spread } from '../stats.js';
import { DATA_READERS } from './get-done.js';
import { TASK_SYSTEMS, taskWorkload } from './tasks.js';

export interface LatencyRow {
  readonly kind: 'latency';
  readonly group: string;
  readonly workload: string;
  readonly system: SystemName;
  /** Task latency: how the tasks are configured. */
  readonly profile?: TaskProfile;
  readonly ratePerSec: number;
  /** Over all measured samples, µs. */
  readonly pooled: Percentiles;
  /** The p99 of each repetition, µs. */
  readonly p99PerRep: Spread;
  /** The most any measured run was disturbed by other processes, in cores. */
  readonly otherCores: number;
  readonly error?: string;
}

async function measureLatency(
  ctx: Context,
  group: string,
  workload: string,
  system: SystemName,
  target: Target,
  profile?: TaskProfile,
): Promise<LatencyRow> {
  const { latencyRate, latencySeconds, reps } = ctx.settings;
  const intervalMs = 1000 / latencyRate;
  const count = Math.round(latencyRate * latencySeconds);
  const once = async (items: number): Promise<{ samples: number[]; otherCores: number }> => {
    await flush(ctx);
    const phase = await runPhase(ctx, [
      { agent: 1, job: { kind: 'stamp-receive', system, target, count: items, profile } },
      { agent: 0, job: { kind: 'stamp-send', system, target, count: items, intervalMs, profile } },
    ]);
    return { samples: phase.results[0]?.samplesUs ?? [], otherCores: phase.otherCores };
  };
  let otherCores = Number.NaN;
  const empty = { kind: 'latency', group, workload, system, profile, ratePerSec: latencyRate } as const;
  try {
    await once(Math.max(200, count / 4));
    const perRep: number[][] = [];
    const budget = { retries: RETRIES_PER_CELL };
    otherCores = 0;
    for (let r = 0; r < reps; r += 1) {
      const run = await leastDisturbed(ctx, `${workload} · ${system}`, budget, () => once(count));
      perRep.push(run.samples);
      otherCores = Math.max(otherCores, run.otherCores);
    }
    const row: LatencyRow = {
      ...empty,
      pooled: percentiles(perRep.flat()),
      p99PerRep: spread(perRep.map((samples) => percentiles(samples).p99)),
      otherCores,
    };
    ctx.log(
      `${workload} · ${system}: p50 ${(row.pooled.p50 / 1000).toFixed(3)} ms, p99 ${(row.pooled.p99 / 1000).toFixed(3)} ms, ` +
        `p999 ${(row.pooled.p999 / 1000).toFixed(3)} ms (${row.pooled.samples} samples)`,
    );
    return row;
  } catch (error) {
    const message = await cellFailed(ctx, `${workload} · ${system}`, error);
    const none = percentiles([]);
    const nothing = { median: Number.NaN, min: Number.NaN, max: Number.NaN };
    return { ...empty, pooled: none, p99PerRep: nothing, otherCores, error: message };
  }
}

export async function runDataLatency(ctx: Context): Promise<LatencyRow[]> {
  const rows: LatencyRow[] = [];
  for (const system of DATA_READERS.filter((s) => ctx.systems.includes(s))) {
    rows.push(await measureLatency(ctx, 'latency', 'latency put → get', system, 'data'));
  }
  return rows;
}

/** Task add → start at each task profile (see tasks.ts). */
export async function runTaskLatency(ctx: Context): Promise<LatencyRow[]> {
  const rows: LatencyRow[] = [];
  for (const profile of TASK_PROFILES) {
    for (const system of TASK_SYSTEMS.filter((s) => ctx.systems.includes(s))) {
      rows.push(await measureLatency(ctx, 'task-latency', taskWorkload.latency(profile), system, 'tasks', profile));
    }
  }
  return rows;
}
