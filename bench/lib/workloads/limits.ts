/**
 * Rate-limited get+done (docs/rate-limits.md): does a limited queue deliver at its
 * configured rate, shared by several consumers, without polling? 4 consumers (each its
 * own DataQueue and connection, in this process: the rate, not the client, bounds them)
 * drain a filled queue limited to LIMIT_PER_SECOND items/s (burst LIMIT_BURST) with
 * blocking reads of 100, each doneData'd. The delivered rate is (items − burst) over
 * the time from the start to the last delivery: the burst goes at once, then a token
 * every 1/perSecond s. The script calls per delivered item show the waits do not poll.
 *
 * visq only (no peer here has a shared limiter on a batched read). The plain path's cost
 * is the get-done workload's rows, in the same run.
 */
import { DataQueue } from '../../../dist/index.js';
import type { Context } from '../context.js';
import { commandStats, type CommandStats } from '../redis-stats.js';
import { spread } from '../stats.js';
import type { Rep, ThroughputRow } from '../throughput.js';

export const LIMIT_PER_SECOND = 2000;
export const LIMIT_BURST = 100;
const CONSUMERS = 4;
const BATCH = 100;
/** Seconds each measured run lasts at the limit. */
const RUN_SECONDS = { quick: 2, full: 5 } as const;

/** The row's workload name, which the goals (goals.ts) look up. */
export const limitedWorkload = `rate-limited get+done at ${LIMIT_PER_SECOND}/s (burst ${LIMIT_BURST}), batches of ${BATCH}, ${CONSUMERS} consumers`;

/** The change of one command's stats between two readings. */
function delta(before: CommandStats, after: CommandStats, name: string): { calls: number; usec: number } {
  return {
    calls: (after[name]?.calls ?? 0) - (before[name]?.calls ?? 0),
    usec: (after[name]?.usec ?? 0) - (before[name]?.usec ?? 0),
  };
}

async function runOnce(ctx: Context, name: string, items: number): Promise<Rep & { readsPerBatch: number; itemsPerBatch: number }> {
  const options = { visTimeout: 30, rateLimit: { perSecond: LIMIT_PER_SECOND, burst: LIMIT_BURST } };
  const connections = Array.from({ length: CONSUMERS }, () => ctx.admin.duplicate());
  const queues = connections.map((redis) => new DataQueue<number>(redis, name, options));
  try {
    const filler = queues[0] as DataQueue<number>;
    for (let put = 0; put < items; put += 1000) await filler.putData(Array.from({ length: Math.min(1000, items - put) }, (_, i) => i));
    const statsBefore = await commandStats(ctx.admin);
    let delivered = 0;
    let batches = 0;
    const start = performance.now();
    let last = start;
    await Promise.all(
      queues.map(async (queue) => {
        while (delivered < items) {
          const got = await queue.getData(BATCH, { wait: 1 });
          if (got.size === 0) continue;
          delivered += got.size;
          batches += 1;
          last = performance.now();
          await queue.doneData(got);
        }
      }),
    );
    const seconds = (last - start) / 1000;
    const statsAfter = await commandStats(ctx.admin);
    const scripts = delta(statsBefore, statsAfter, 'evalsha');
    const cmdUs = scripts.usec + delta(statsBefore, statsAfter, 'xread').usec;
    return {
      items,
      seconds,
      itemsPerSec: (items - LIMIT_BURST) / seconds,
      cmdUsPerItem: cmdUs / items,
      redisCpuUsPerItem: Number.NaN,
      clientCpuUsPerItem: Number.NaN,
      otherCores: 0,
      commands: {},
      // every delivering read is one get and one done script; the rest are reads that
      // found no token (a consumer that lost the token it slept for to another)
      readsPerBatch: (scripts.calls - batches) / batches,
      itemsPerBatch: items / batches,
    };
  } finally {
    await queues[0]?.clear();
    await Promise.all(queues.map((queue) => queue.close()));
    for (const redis of connections) redis.disconnect();
  }
}

export async function runLimits(ctx: Context): Promise<ThroughputRow[]> {
  if (!ctx.systems.includes('visq')) return [];
  const items = LIMIT_BURST + LIMIT_PER_SECOND * (ctx.settings.quick ? RUN_SECONDS.quick : RUN_SECONDS.full);
  await runOnce(ctx, 'bench-limits-warmup', LIMIT_BURST + LIMIT_PER_SECOND / 2);
  const reps: (Rep & { readsPerBatch: number; itemsPerBatch: number })[] = [];
  for (let i = 0; i < ctx.settings.reps; i += 1) reps.push(await runOnce(ctx, `bench-limits-${i}`, items));
  const perItem = (pick: (rep: Rep & { readsPerBatch: number; itemsPerBatch: number }) => number): number =>
    reps.reduce((sum, rep) => sum + pick(rep), 0) / reps.length;
  ctx.log(
    `${limitedWorkload}: ${spread(reps.map((rep) => rep.itemsPerSec)).median.toFixed(0)} items/s delivered, ` +
      `${perItem((rep) => rep.itemsPerBatch).toFixed(1)} items per delivering read (what the bucket held when the read ` +
      `came), ${perItem((rep) => rep.readsPerBatch).toFixed(2)} get scripts per delivering read (1 = every read ` +
      `delivered; a poll loop would make many)`,
  );
  return [
    {
      kind: 'throughput',
      group: 'limits',
      workload: limitedWorkload,
      system: 'visq',
      n: items,
      reps,
      itemsPerSec: spread(reps.map((rep) => rep.itemsPerSec)),
      cmdUsPerItem: perItem((rep) => rep.cmdUsPerItem),
      redisCpuUsPerItem: Number.NaN,
      clientCpuUsPerItem: Number.NaN,
      otherCores: 0,
    },
  ];
}
