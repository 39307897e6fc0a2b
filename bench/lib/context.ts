/** What every workload gets: settings, the admin connection, the agents, and phases to run on them. */
import type { Redis } from 'ioredis';
import { withTimeout, type AgentPool } from './agents.js';
import { busyCores, sampleCpu } from './machine.js';
import type { Job, JobResult, SystemName } from './protocol.js';
import { commandStats, cpuMicros, type ClientShares, type CommandStats } from './redis-stats.js';

export interface Settings {
  readonly quick: boolean;
  /** Measured repetitions per cell, after one discarded warm-up run. */
  readonly reps: number;
  /** Each measured run is sized from the warm-up's rate to last about this long. */
  readonly targetSeconds: number;
  /** A measured run shorter than this is resized and run again (the warm-up underestimated the rate). */
  readonly minSeconds: number;
  /** Latency workloads: items per second and seconds per repetition. */
  readonly latencyRate: number;
  readonly latencySeconds: number;
  /** Memory workload: items queued. */
  readonly memoryItems: number;
  /** Depth workload: the two depths and the timed reads per repetition. */
  readonly depths: readonly [number, number];
  readonly depthCalls: number;
}

export interface Context {
  readonly settings: Settings;
  readonly admin: Redis;
  readonly pool: AgentPool;
  /** The systems selected with --systems. */
  readonly systems: readonly SystemName[];
  /** The private PostgreSQL, when the `postgres` workload runs. */
  readonly postgres?: import('./postgres/server.js').PostgresBench;
  /** Client shares of commands per `system:group`, from the MONITOR probes. */
  readonly shares: Map<string, ClientShares>;
  log(line: string): void;
}

/**
 * A measured run during which other processes kept more than this many cores busy is
 * run again (at most RETRIES_PER_CELL times per cell), keeping the least disturbed.
 */
export const DISTURBED_CORES = 0.3;
export const RETRIES_PER_CELL = 2;

/**
 * Runs `once` and, while other processes disturbed it and the cell has retries left,
 * again; returns the least disturbed result.
 */
export async function leastDisturbed<T extends { otherCores: number }>(
  ctx: Context,
  label: string,
  budget: { retries: number },
  once: () => Promise<T>,
): Promise<T> {
  let best = await once();
  while (best.otherCores > DISTURBED_CORES && budget.retries > 0) {
    budget.retries -= 1;
    ctx.log(`${label}: other processes kept ${best.otherCores.toFixed(2)} cores busy; running it again`);
    const again = await once();
    if (again.otherCores < best.otherCores) best = again;
  }
  return best;
}

/** One job for one agent. */
export interface Assignment {
  readonly agent: number;
  readonly job: Job;
}

export interface PhaseResult {
  readonly items: number;
  /** From the earliest start to the latest end of the agents' timed parts. */
  readonly seconds: number;
  /** CPU the agents used, µs. */
  readonly clientCpuUs: number;
  /** CPU redis-server used, µs. */
  readonly redisCpuUs: number;
  /**
   * Cores kept busy, on average, by processes other than this benchmark, its agents and
   * its redis-server (other people's work on a shared machine): NaN off Linux.
   */
  readonly otherCores: number;
  readonly results: readonly JobResult[];
  /** Commandstats of the timed part, when metered. */
  readonly commands?: CommandStats;
}

/** A generous bound: the slowest measured run (BullMQ at concurrency 1) takes seconds. */
const PHASE_TIMEOUT_MS = 240_000;

/**
 * Prepares every assignment, then starts them together. With `metered`, commandstats
 * are reset before the timed part and read after it. `serverCpu` reads the CPU the
 * server under test has used so far, µs (default: redis-server's); the result's
 * `redisCpuUs` is that server's.
 */
export async function runPhase(
  ctx: Context,
  assignments: readonly Assignment[],
  metered = false,
  serverCpu: () => Promise<number> = () => cpuMicros(ctx.admin),
): Promise<PhaseResult> {
  const ids = await Promise.all(assignments.map(({ agent, job }) => ctx.pool.agent(agent).prepare(job)));
  if (metered) await ctx.admin.config('RESETSTAT');
  const redisBefore = await serverCpu();
  const ownBefore = process.cpuUsage();
  const machineBefore = sampleCpu();
  const windowStart = performance.now();
  const results = await withTimeout(
    Promise.all(assignments.map(({ agent }, i) => ctx.pool.agent(agent).go(ids[i] as number))),
    PHASE_TIMEOUT_MS,
    `${assignments[0]?.job.kind ?? 'phase'} on ${assignments[0]?.job.system ?? '?'}`,
  );
  const windowUs = (performance.now() - windowStart) * 1000;
  const machine = busyCores(machineBefore, sampleCpu());
  const own = process.cpuUsage(ownBefore);
  const redisCpuUs = (await serverCpu()) - redisBefore;
  const commands = metered ? await commandStats(ctx.admin) : undefined;
  const start = Math.min(...results.map((r) => r.startNs));
  const end = Math.max(...results.map((r) => r.endNs));
  let items = 0;
  let clientCpuUs = 0;
  for (const r of results) {
    items += r.items;
    clientCpuUs += r.cpuUs;
  }
  const ours = (redisCpuUs + clientCpuUs + own.user + own.system) / windowUs;
  return {
    items,
    seconds: (end - start) / 1e9,
    clientCpuUs,
    redisCpuUs,
    otherCores: Math.max(0, machine - ours),
    results,
    ...(commands ? { commands } : {}),
  };
}

/** `total` split into `parts` counts, multiples of `step` where possible, summing to `total`. */
export function split(total: number, parts: number, step = 1): number[] {
  const each = Math.floor(total / parts / step) * step;
  const counts = Array<number>(parts).fill(each);
  counts[0] = total - each * (parts - 1);
  return counts;
}

/**
 * A cell that failed: logs it and replaces the agents, so that nothing the failed job
 * left behind (open connections, a running worker) disturbs the next cell. Returns the
 * message for the row's `error`.
 */
export async function cellFailed(ctx: Context, label: string, error: unknown): Promise<string> {
  const message = error instanceof Error ? error.message : String(error);
  ctx.log(`${label}: FAILED: ${message}`);
  await ctx.pool.restart();
  return message;
}

/** Empties the server between runs (FLUSHALL keeps the script cache, so no reloads are timed). */
export async function flush(ctx: Context): Promise<void> {
  await ctx.admin.flushall();
}
