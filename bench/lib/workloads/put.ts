/**
 * Data queue put: one call per item, and batches of 100 and 1000 (visq putData, Streams
 * pipelined XADD, BullMQ addBulk, bee-queue saveAll), by 4 producer processes with one
 * call in flight each.
 */
import { split, type Context } from '../context.js';
import { SYSTEMS } from '../protocol.js';
import { measureThroughput, type ThroughputRow } from '../throughput.js';

const PRODUCERS = 4;
const BATCHES = [1, 100, 1000] as const;
/** Warm-up sizes: roughly a second's worth on a 2-core machine. */
const INITIAL: Record<(typeof BATCHES)[number], number> = { 1: 12_000, 100: 150_000, 1000: 200_000 };

export async function runPut(ctx: Context): Promise<ThroughputRow[]> {
  const rows: ThroughputRow[] = [];
  for (const batch of BATCHES) {
    for (const system of SYSTEMS.filter((s) => ctx.systems.includes(s))) {
      const step = PRODUCERS * batch;
      rows.push(
        await measureThroughput(ctx, {
          group: 'put',
          workload: batch === 1 ? 'put, 1 call per item' : `put, batches of ${batch}`,
          system,
          timed: (n) =>
            split(n, PRODUCERS, batch).map((count, agent) => ({
              agent,
              job: { kind: 'put', system, target: 'data', count, batch },
            })),
          initialN: ctx.settings.quick ? INITIAL[batch] / 4 : INITIAL[batch],
          minN: step,
          step,
        }),
      );
    }
  }
  return rows;
}
