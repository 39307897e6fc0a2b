/**
 * Data queue get + done with a visibility timeout, 4 consumers, batches of 1, 10, 100
 * and 1000: visq getData + doneData against a Streams consumer group's XREADGROUP COUNT n
 * + XACK/XDEL. BullMQ and bee-queue read one job at a time and have no counterpart here
 * (they are compared on tasks). The queue is filled before the clock starts; the
 * consumers stop when a read finds it empty.
 *
 * The consumers run in 4 processes, one each, so that the clients' CPU is spread over
 * the cores and Redis's cost shows; at batches of 10 and 100 also all 4 in one process
 * (one connection each, one event loop), where the client's CPU per item bounds items/s
 * as it does in an application that reads from one process.
 */
import { split, type Context } from '../context.js';
import type { SystemName } from '../protocol.js';
import { measureThroughput, type ThroughputRow } from '../throughput.js';

export const CONSUMERS = 4;
export const FILL_BATCH = 1000;
const BATCHES = [1, 10, 100, 1000] as const;
type BatchSize = (typeof BATCHES)[number];
/** Batches also measured with all consumers in one process. */
const ONE_PROCESS: readonly BatchSize[] = [10, 100];
const INITIAL: Record<BatchSize, number> = { 1: 15_000, 10: 80_000, 100: 200_000, 1000: 250_000 };
export const DATA_READERS: readonly SystemName[] = ['visq', 'streams', 'visq-otel'];

/** The rows' workload names, which the goals (goals.ts) look up. */
export const getDoneWorkload = (batch: number, oneProcess = false): string =>
  `get+done, batches of ${batch}, ${CONSUMERS} consumers${oneProcess ? ' in 1 process' : ''}`;

export async function runGetDone(ctx: Context): Promise<ThroughputRow[]> {
  const rows: ThroughputRow[] = [];
  for (const batch of BATCHES) {
    for (const oneProcess of ONE_PROCESS.includes(batch) ? [false, true] : [false]) {
      for (const system of DATA_READERS.filter((s) => ctx.systems.includes(s))) {
        rows.push(
          await measureThroughput(ctx, {
            group: 'get-done',
            workload: getDoneWorkload(batch, oneProcess),
            system,
            fill: (n) =>
              split(n, CONSUMERS, FILL_BATCH).map((count, agent) => ({
                agent,
                job: { kind: 'put', system, target: 'data', count, batch: FILL_BATCH },
              })),
            timed: () =>
              oneProcess
                ? [{ agent: 0, job: { kind: 'drain', system, batch, consumers: CONSUMERS } }]
                : Array.from({ length: CONSUMERS }, (_, agent) => ({ agent, job: { kind: 'drain', system, batch } })),
            initialN: ctx.settings.quick ? INITIAL[batch] / 4 : INITIAL[batch],
            minN: 1000,
            step: 1000,
          }),
        );
      }
    }
  }
  return rows;
}
