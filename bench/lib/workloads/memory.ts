/**
 * Redis memory per queued item: `used_memory` after queueing `memoryItems` small items,
 * less `used_memory` with one item queued (so the queue's fixed keys and the loaded
 * scripts are not counted), divided by the items. The overhead is what is left after the
 * item's own JSON. Each system is measured on a flushed server with its connections
 * closed, so client buffers are not counted either. One run: the figure is deterministic.
 * A visq task is measured at both task profiles (see tasks.ts), against the goal of
 * issue 16: at most 200 bytes per queued task beyond its arguments.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { cellFailed, flush, runPhase, split, type Context } from '../context.js';
import { PAYLOAD_BYTES, SYSTEMS, TASK_ARGS, TASK_PROFILES, type SystemName, type TaskProfile, type Target } from '../protocol.js';
import { usedMemory } from '../redis-stats.js';
import { PROFILE_LABEL } from './tasks.js';

export interface MemoryRow {
  readonly kind: 'memory';
  readonly group: 'memory';
  readonly workload: string;
  readonly system: SystemName;
  readonly target: Target;
  /** Tasks only: how the task is configured. */
  readonly profile?: TaskProfile;
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

/** The rows' workload names, which the goals (goals.ts) look up. */
export const memoryWorkload = (target: Target, profile?: TaskProfile): string =>
  target === 'data' ? 'memory per queued item' : `memory per queued task, ${PROFILE_LABEL[profile ?? 'defaults']}`;

async function measureMemory(ctx: Context, system: SystemName, target: Target, profile?: TaskProfile): Promise<MemoryRow> {
  const items = ctx.settings.memoryItems;
  const payloadBytes = target === 'data' ? PAYLOAD_BYTES : JSON.stringify([TASK_ARGS.a, TASK_ARGS.b]).length;
  const workload = memoryWorkload(target, profile);
  const base = { kind: 'memory', group: 'memory', workload, system, target, profile, items, payloadBytes } as const;
  const put = (count: number, batch: number) => ({ kind: 'put', system, target, count, batch, profile }) as const;
  try {
    await flush(ctx);
    await runPhase(ctx, [{ agent: 0, job: put(1, 1) }]);
    const before = await settledMemory(ctx);
    await runPhase(
      ctx,
      split(items - 1, FILLERS, FILL_BATCH).map((count, agent) => ({ agent, job: put(count, FILL_BATCH) })),
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
  if (ctx.systems.includes('visq')) {
    for (const profile of TASK_PROFILES) rows.push(await measureMemory(ctx, 'visq', 'tasks', profile));
  }
  return rows;
}
