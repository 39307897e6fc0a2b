/**
 * Deduplicated put (issue 18): visq putData in batches of 100 with a dedupe key per item
 * (`window: 300`, every key new, so every item claims its key: the full cost), beside
 * the plain putData of the same batch measured in the same run, by 4 producer processes
 * with one call in flight each. The goal (goals.ts): dedupe ≥ 0.5× plain.
 */
import { split, type Context } from '../context.js';
import { measureThroughput, type ThroughputRow } from '../throughput.js';

const PRODUCERS = 4;
const BATCH = 100;
/** Warm-up size: roughly a second's worth on a 2-core machine. */
const INITIAL = 150_000;

/** The rows' workload names. */
export const dedupeWorkload = {
  plain: `put, batches of ${BATCH} (dedupe's baseline)`,
  dedupe: `dedupe put, batches of ${BATCH}`,
} as const;

export async function runDedupe(ctx: Context): Promise<ThroughputRow[]> {
  if (!ctx.systems.includes('visq')) return [];
  const rows: ThroughputRow[] = [];
  for (const dedupe of [false, true]) {
    const step = PRODUCERS * BATCH;
    rows.push(
      await measureThroughput(ctx, {
        group: dedupe ? 'dedupe' : 'put',
        workload: dedupe ? dedupeWorkload.dedupe : dedupeWorkload.plain,
        system: 'visq',
        timed: (n) =>
          split(n, PRODUCERS, BATCH).map((count, agent) => ({
            agent,
            job: { kind: 'put', system: 'visq', target: 'data', count, batch: BATCH, dedupe },
          })),
        initialN: ctx.settings.quick ? INITIAL / 4 : INITIAL,
        minN: step,
        step,
      }),
    );
  }
  return rows;
}
