/**
 * Ordered groups (docs/groups.md): visq get + done at batches of 100 with 4 consumer
 * processes over a queue whose items are spread over 1,000 groups (each read takes the
 * head runs of many groups and holds them until done), against the same workload on
 * plain items measured in the same run. The goal (goals.ts) is grouped ≥ 0.5× plain.
 */
import { split, type Context } from '../context.js';
import { measureThroughput, type ThroughputRow } from '../throughput.js';
import { CONSUMERS, FILL_BATCH } from './get-done.js';

export const GROUP_COUNT = 1000;
const BATCH = 100;
const INITIAL = 200_000;

/** The rows' workload names, which the goals look up: grouped, or the same-run plain baseline. */
export const groupsWorkload = (grouped: boolean): string =>
  `get+done, batches of ${BATCH}, ${CONSUMERS} consumers, ${grouped ? `${GROUP_COUNT.toLocaleString('en-US')} ordered groups` : 'no groups (baseline)'}`;

export async function runGroups(ctx: Context): Promise<ThroughputRow[]> {
  const rows: ThroughputRow[] = [];
  if (!ctx.systems.includes('visq')) return rows;
  for (const grouped of [false, true]) {
    rows.push(
      await measureThroughput(ctx, {
        group: 'groups',
        workload: groupsWorkload(grouped),
        system: 'visq',
        fill: (n) =>
          split(n, CONSUMERS, FILL_BATCH).map((count, agent) => ({
            agent,
            job: { kind: 'put', system: 'visq', target: 'data', count, batch: FILL_BATCH, ...(grouped ? { groups: GROUP_COUNT } : {}) },
          })),
        timed: () => Array.from({ length: CONSUMERS }, (_, agent) => ({ agent, job: { kind: 'drain', system: 'visq', batch: BATCH } })),
        initialN: ctx.settings.quick ? INITIAL / 4 : INITIAL,
        minN: 1000,
        step: 1000,
      }),
    );
  }
  return rows;
}
