/**
 * What Redis itself spent: `INFO commandstats` (after `CONFIG RESETSTAT`) and the
 * process CPU time from `INFO cpu`, read around a timed phase (context.ts).
 *
 * Commandstats count a command called from a Lua script (or inside MULTI/EXEC) both on
 * its own line and inside the caller's time, so summing every line counts it twice.
 * Only the commands a client sent are summed: EVALSHA with everything its script did,
 * XACK, and so on; EXEC and MULTI are left out because the commands they ran are counted
 * on their own lines. Which commands a client sends is observed, not assumed: a small
 * probe run of the same workload under MONITOR tells, per command, how many calls came
 * from a client connection and how many from Lua (`[0 lua]`).
 */
import type { Redis } from 'ioredis';

export interface CommandStat {
  calls: number;
  usec: number;
}
export type CommandStats = Record<string, CommandStat>;

/** Share of each command's calls that came from a client rather than from a script. */
export type ClientShares = Map<string, number>;

/** The harness's own commands and connection setup, never part of a system's cost. */
const HARNESS = /^(info|config\|.*|ping|select|hello|client\|.*|command\|.*|monitor|flushall|script\|.*|quit)$/;
/** Their time is the sum of the commands they ran, which are counted on their own lines. */
const WRAPPERS = new Set(['exec', 'multi', 'discard']);
/** Commands whose first argument is a subcommand, named `name|sub` in commandstats. */
const CONTAINERS = new Set([
  'acl', 'client', 'cluster', 'command', 'config', 'function', 'latency', 'memory', 'module',
  'object', 'pubsub', 'script', 'slowlog', 'xgroup', 'xinfo',
]);

export async function commandStats(redis: Redis): Promise<CommandStats> {
  const stats: CommandStats = {};
  for (const line of (await redis.info('commandstats')).split('\n')) {
    const match = /^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/.exec(line.trim());
    if (match?.[1]) stats[match[1]] = { calls: Number(match[2]), usec: Number(match[3]) };
  }
  return stats;
}

/** Redis's process CPU time (user + system), µs. */
export async function cpuMicros(redis: Redis): Promise<number> {
  const info = await redis.info('cpu');
  const field = (name: string): number => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? 0);
  return (field('used_cpu_user') + field('used_cpu_sys')) * 1e6;
}

export async function usedMemory(redis: Redis): Promise<number> {
  return Number(/^used_memory:(\d+)/m.exec(await redis.info('memory'))?.[1] ?? 0);
}

/** Redis time of the commands clients sent, µs: each command once (see the module comment). */
export function clientCommandMicros(commands: CommandStats, shares: ClientShares): number {
  let total = 0;
  for (const [name, stat] of Object.entries(commands)) {
    if (HARNESS.test(name) || WRAPPERS.has(name)) continue;
    // a command the probe never saw is rare enough for either choice; count it as sent
    total += stat.usec * (shares.get(name) ?? 1);
  }
  return total;
}

/** Runs `body` under MONITOR and returns, per command, the share of calls a client sent. */
export async function probeClientShares(admin: Redis, body: () => Promise<void>): Promise<ClientShares> {
  const monitor = await admin.duplicate().monitor();
  const seen = new Map<string, { client: number; lua: number }>();
  monitor.on('monitor', (_time: string, args: string[], source: string) => {
    const command = (args[0] ?? '').toLowerCase();
    const sub = args[1]?.toLowerCase();
    const name = CONTAINERS.has(command) && sub ? `${command}|${sub}` : command;
    const counts = seen.get(name) ?? { client: 0, lua: 0 };
    if (source === 'lua') counts.lua += 1;
    else counts.client += 1;
    seen.set(name, counts);
  });
  try {
    await body();
    // the last lines may still be on their way: a PING through the admin connection
    // is seen after them
    await admin.ping();
    await new Promise((resolve) => setTimeout(resolve, 50));
  } finally {
    monitor.disconnect();
  }
  const shares: ClientShares = new Map();
  for (const [name, { client, lua }] of seen) shares.set(name, client / (client + lua));
  return shares;
}
