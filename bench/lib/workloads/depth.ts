/**
 * Depth independence: the latency of one read of 100 items (visq getData(100) with a
 * visibility timeout; Streams XREADGROUP COUNT 100) with a shallow and a deep queue.
 * After each timed read the items are done and put back, untimed, so the depth stays put.
 */
import { cellFailed, flush, runPhase, split, type Context } from '../context.js';
import type { SystemName } from '../protocol.js';
import { percentiles, type Percentiles } from '../stats.js';
import { DATA_READERS, FILL_BATCH } from './get-done.js';

export interface DepthRow {
  readonly kind: 'depth';
  readonly group: 'depth';
  readonly workload: string;
  readonly system: SystemName;
  readonly depth: number;
  /** Read latency over all measured reads, µs. */
  readonly pooled: Percentiles;
  /** The most any measured run was disturbed by other processes, in cores. */
  readonly otherCores: number;
  readonly error?: string;
}

const READ = 100;
const FILLERS = 4;

async function measureDepth(ctx: Context, system: SystemName, depth: number): Promise<DepthRow> {
  const workload = `getData(${READ}) latency by depth`;
  const base = { kind: 'depth', group: 'depth', workload, system, depth } as const;
  try {
    await flush(ctx);
    await runPhase(
      ctx,
      split(depth, FILLERS, FILL_BATCH).map((count, agent) => ({
        agent,
        job: { kind: 'put', system, target: 'data', count, batch: FILL_BATCH },
      })),
    );
    let otherCores = 0;
    const read = async (calls: number): Promise<number[]> => {
      const phase = await runPhase(ctx, [{ agent: 0, job: { kind: 'depth', system, calls, batch: READ } }]);
      otherCores = Math.max(otherCores, phase.otherCores);
      return phase.results[0]?.samplesUs ?? [];
    };
    await read(Math.ceil(ctx.settings.depthCalls / 4));
    otherCores = 0;
    const samples: number[] = [];
    for (let r = 0; r < ctx.settings.reps; r += 1) samples.push(...(await read(ctx.settings.depthCalls)));
    const pooled = percentiles(samples);
    ctx.log(
      `${workload} · ${system} at ${depth.toLocaleString('en-US')}: ` +
        `p50 ${(pooled.p50 / 1000).toFixed(3)} ms, p99 ${(pooled.p99 / 1000).toFixed(3)} ms`,
    );
    return { ...base, pooled, otherCores };
  } catch (error) {
    const message = await cellFailed(ctx, `${workload} · ${system} at ${depth}`, error);
    return { ...base, pooled: percentiles([]), otherCores: Number.NaN, error: message };
  }
}

export async function runDepth(ctx: Context): Promise<DepthRow[]> {
  const rows: DepthRow[] = [];
  for (const system of DATA_READERS.filter((s) => ctx.systems.includes(s))) {
    for (const depth of ctx.settings.depths) rows.push(await measureDepth(ctx, system, depth));
  }
  return rows;
}
