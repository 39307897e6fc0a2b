/**
 * Data queue get + done with a visibility timeout, 4 consumer processes, batches of 1,
 * 10, 100 and 1000: visq getData + doneData against a Streams consumer group's
 * XREADGROUP COUNT n + XACK/XDEL. BullMQ and bee-queue read one job at a time and have
 * no counterpart here (they are compared on tasks). The queue is filled before the clock
 * starts; the consumers stop when a read finds it empty.
 */
import { split, type Context } from '../context.js';
import type { SystemName } from '../protocol.js';
import { measureThroughput, type ThroughputRow } from '../throughput.js';

export const CONSUMERS = 4;
export const FILL_BATCH = 1000;
const BATCHES = [1, 10, 100, 1000] as const;
const INITIAL: Record<(typeof BATCHES)[number], number> = { 1: 15_000, 10: 80_000, 100: 200_000, 1000: 250_000 };
export const DATA_READERS: readonly SystemName[] = ['visq', 'streams', 'visq-otel'];

export async function runGetDone(ctx: Context): Promise<ThroughputRow[]> {
  const rows: ThroughputRow[] = [];
  for (const batch of BATCHES) {
    for (const system of DATA_READERS.filter((s) => ctx.systems.includes(s))) {
      rows.push(
        await measureThroughput(ctx, {
          group: 'get-done',
          workload: `get+done, batches of ${batch}, ${CONSUMERS} consumers`,
          system,
          fill: (n) =>
            split(n, CONSUMERS, FILL_BATCH).map((count, agent) => ({
              agent,
              job: { kind: 'put', system, target: 'data', count, batch: FILL_BATCH },
            })),
          timed: () =>
            Array.from({ length: CONSUMERS }, (_, agent) => ({ agent, job: { kind: 'drain', system, batch } })),
          initialN: ctx.settings.quick ? INITIAL[batch] / 4 : INITIAL[batch],
          minN: 1000,
          step: 1000,
        }),
      );
    }
  }
  return rows;
}
