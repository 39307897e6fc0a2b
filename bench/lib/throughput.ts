/**
 * A throughput cell: one system on one workload. A MONITOR probe (once per system and
 * workload group) tells which commands the client sent; a warm-up run, discarded, sizes
 * the measured runs to last `targetSeconds`; then `reps` measured runs, each on a
 * flushed server, each with its own fill. Items/s is wall time from the first agent's
 * start to the last agent's end.
 */
import { cellFailed, flush, leastDisturbed, RETRIES_PER_CELL, runPhase, type Assignment, type Context } from './context.js';
import type { SystemName, TaskProfile } from './protocol.js';
import { clientCommandMicros, probeClientShares, type CommandStats } from './redis-stats.js';
import { median, spread, type Spread } from './stats.js';

export interface ThroughputSpec {
  readonly group: string;
  readonly workload: string;
  readonly system: SystemName;
  /** Task workloads: how the tasks are configured. */
  readonly profile?: TaskProfile;
  /** Untimed phase that fills the queue with `n` items first. */
  readonly fill?: (n: number) => Assignment[];
  readonly timed: (n: number) => Assignment[];
  /** Items of the warm-up run; the measured runs are sized from its rate. */
  readonly initialN: number;
  readonly minN: number;
  readonly step: number;
  /**
   * The server under test when it is not the Redis: how to empty it between runs and how
   * much CPU it has used (µs). No MONITOR probe then: command figures are Redis's.
   */
  readonly server?: { flush(): Promise<void>; cpuMicros(): Promise<number> };
}

export interface Rep {
  readonly items: number;
  readonly seconds: number;
  readonly itemsPerSec: number;
  /** Redis time of the commands the clients sent (commandstats), per item. */
  readonly cmdUsPerItem: number;
  /** Redis process CPU (user + system) per item. */
  readonly redisCpuUsPerItem: number;
  /** CPU of the agent processes per item. */
  readonly clientCpuUsPerItem: number;
  /** Cores other processes kept busy meanwhile (see PhaseResult). */
  readonly otherCores: number;
  readonly commands: CommandStats;
}

export interface ThroughputRow {
  readonly kind: 'throughput';
  readonly group: string;
  readonly workload: string;
  readonly system: SystemName;
  readonly profile?: TaskProfile;
  readonly n: number;
  readonly reps: readonly Rep[];
  readonly itemsPerSec: Spread;
  readonly cmdUsPerItem: number;
  readonly redisCpuUsPerItem: number;
  readonly clientCpuUsPerItem: number;
  /** The most any measured run was disturbed by other processes, in cores. */
  readonly otherCores: number;
  readonly error?: string;
}

/** Items big enough to see every command of the workload, small enough to cost nothing under MONITOR. */
const PROBE_ITEMS = 2000;
/** Keeps the largest fill within memory and time even if a warm-up run was unusually fast. */
const MAX_ITEMS = 3_000_000;
/** How often a cell may resize its runs after one came out shorter than `minSeconds`. */
const MAX_RESIZES = 2;

function roundUp(n: number, step: number): number {
  return Math.ceil(n / step) * step;
}

export async function measureThroughput(ctx: Context, spec: ThroughputSpec): Promise<ThroughputRow> {
  const label = `${spec.workload} · ${spec.system}`;
  const reps: Rep[] = [];
  let n = spec.initialN;
  try {
    const server = spec.server;
    const once = async (items: number, metered: boolean) => {
      await (server ? server.flush() : flush(ctx));
      if (spec.fill) await runPhase(ctx, spec.fill(items));
      const phase = server
        ? await runPhase(ctx, spec.timed(items), false, () => server.cpuMicros())
        : await runPhase(ctx, spec.timed(items), metered);
      if (phase.items !== items) throw new Error(`${label}: handled ${phase.items} of ${items} items`);
      return phase;
    };

    const key = `${spec.system}:${spec.group}`;
    let shares = ctx.shares.get(key);
    if (!shares && server) shares = new Map();
    if (!shares) {
      const probeN = roundUp(Math.min(PROBE_ITEMS, spec.initialN), spec.step);
      await flush(ctx);
      if (spec.fill) await runPhase(ctx, spec.fill(probeN));
      shares = await probeClientShares(ctx.admin, async () => {
        await runPhase(ctx, spec.timed(probeN));
      });
      ctx.shares.set(key, shares);
    }

    const warm = await once(roundUp(spec.initialN, spec.step), false);
    const rate = warm.items / warm.seconds;
    n = Math.min(MAX_ITEMS, Math.max(spec.minN, roundUp(rate * ctx.settings.targetSeconds, spec.step)));

    const budget = { retries: RETRIES_PER_CELL };
    let resizes = MAX_RESIZES;
    for (let r = 0; r < ctx.settings.reps; r += 1) {
      const phase = await leastDisturbed(ctx, label, budget, () => once(n, true));
      if (phase.seconds < ctx.settings.minSeconds && resizes > 0) {
        // the warm-up underestimated the rate: size this run and the next from it
        resizes -= 1;
        n = Math.min(MAX_ITEMS, roundUp((n * ctx.settings.targetSeconds) / phase.seconds, spec.step));
        r -= 1;
        continue;
      }
      const commands = phase.commands ?? {};
      reps.push({
        items: phase.items,
        seconds: phase.seconds,
        itemsPerSec: phase.items / phase.seconds,
        cmdUsPerItem: clientCommandMicros(commands, shares) / phase.items,
        redisCpuUsPerItem: phase.redisCpuUs / phase.items,
        clientCpuUsPerItem: phase.clientCpuUs / phase.items,
        otherCores: phase.otherCores,
        commands,
      });
    }
    const row = summarize(spec, n, reps);
    ctx.log(
      `${label}: ${Math.round(row.itemsPerSec.median).toLocaleString('en-US')} items/s, ` +
        `${row.cmdUsPerItem.toFixed(2)} µs/item in commands, ${row.redisCpuUsPerItem.toFixed(2)} µs/item Redis CPU ` +
        `(n=${n}, ${reps.map((rep) => rep.seconds.toFixed(2)).join('/')} s)`,
    );
    return row;
  } catch (error) {
    const message = await cellFailed(ctx, label, error);
    return { ...summarize(spec, n, reps), error: message };
  }
}

function summarize(spec: ThroughputSpec, n: number, reps: readonly Rep[]): ThroughputRow {
  return {
    kind: 'throughput',
    group: spec.group,
    workload: spec.workload,
    system: spec.system,
    profile: spec.profile,
    n,
    reps,
    itemsPerSec: reps.length > 0 ? spread(reps.map((r) => r.itemsPerSec)) : { median: Number.NaN, min: Number.NaN, max: Number.NaN },
    cmdUsPerItem: median(reps.map((r) => r.cmdUsPerItem)),
    redisCpuUsPerItem: median(reps.map((r) => r.redisCpuUsPerItem)),
    clientCpuUsPerItem: median(reps.map((r) => r.clientCpuUsPerItem)),
    otherCores: Math.max(...reps.map((r) => r.otherCores)),
  };
}
