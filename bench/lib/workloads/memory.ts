/**
 * Redis memory per queued item: `used_memory` after queueing `memoryItems` small items,
 * less `used_memory` with one item queued (so the queue's fixed keys and the loaded
 * scripts are not counted), divided by the items. The overhead is what is left after the
 * item's own JSON. Each system is measured on a flushed server with its connections
 * closed, so client buffers are not counted either. One run: the figure is deterministic.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { cellFailed, flush, runPhase, split, type Context } from '../context.js';
import { PAYLOAD_BYTES, SYSTEMS, TASK_ARGS, type SystemName, type Target } from '../protocol.js';
import { usedMemory } from '../redis-stats.js';

export interface MemoryRow {
  readonly kind: 'memory';
  readonly group: 'memory';
  readonly workload: string;
  readonly system: SystemName;
  readonly target: Target;
  readonly items: number;
  readonly bytesPerItem: number;
  /** The JSON the caller handed over: the payload, or the task's arguments. */
  readonly payloadBytes: number;
  readonly overheadPerItem: number;
  readonly error?: string;
}

const FILL_BATCH = 1000;
const FILLERS = 4;

async function settledMemory(ctx: Context): Promise<number> {
  // let Redis free the closed clients' buffers before reading
  await sleep(200);
  return usedMemory(ctx.admin);
}

async function measureMemory(ctx: Context, system: SystemName, target: Target): Promise<MemoryRow> {
  const items = ctx.settings.memoryItems;
  const payloadBytes = target === 'data' ? PAYLOAD_BYTES : JSON.stringify([TASK_ARGS.a, TASK_ARGS.b]).length;
  const workload = target === 'data' ? 'memory per queued item' : 'memory per queued task';
  const base = { kind: 'memory', group: 'memory', workload, system, target, items, payloadBytes } as const;
  try {
    await flush(ctx);
    await runPhase(ctx, [{ agent: 0, job: { kind: 'put', system, target, count: 1, batch: 1 } }]);
    const before = await settledMemory(ctx);
    await runPhase(
      ctx,
      split(items - 1, FILLERS, FILL_BATCH).map((count, agent) => ({
        agent,
        job: { kind: 'put', system, target, count, batch: FILL_BATCH },
      })),
    );
    const after = await settledMemory(ctx);
    const bytesPerItem = (after - before) / (items - 1);
    const beyond = (bytesPerItem - payloadBytes).toFixed(1);
    ctx.log(`${workload} · ${system}: ${bytesPerItem.toFixed(1)} bytes/item (${beyond} beyond the ${payloadBytes}-byte payload)`);
    return { ...base, bytesPerItem, overheadPerItem: bytesPerItem - payloadBytes };
  } catch (error) {
    const message = await cellFailed(ctx, `${workload} · ${system}`, error);
    return { ...base, bytesPerItem: Number.NaN, overheadPerItem: Number.NaN, error: message };
  }
}

export async function runMemory(ctx: Context): Promise<MemoryRow[]> {
  const rows: MemoryRow[] = [];
  for (const system of SYSTEMS.filter((s) => ctx.systems.includes(s))) rows.push(await measureMemory(ctx, system, 'data'));
  // a visq task is a queue item plus a status record: compared with the peers' jobs
  if (ctx.systems.includes('visq')) rows.push(await measureMemory(ctx, 'visq', 'tasks'));
  return rows;
}
