/**
 * The benchmark run: starts a private redis-server on a free port, forks the agent
 * processes, runs the selected workloads one system after another on the same server
 * (flushed between runs), and prints one report with visq ÷ peer ratios and the goals.
 * Options: see USAGE.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, release, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startRedisServer } from '../../test/harness/redis-server.js';
import { AgentPool } from './agents.js';
import { measureLoad } from './machine.js';
import type { Context, Settings } from './context.js';
import { DEFAULT_SYSTEMS, POSTGRES_SYSTEMS, SYSTEMS, type SystemName } from './protocol.js';
import { goals, goalsTable } from './goals.js';
import { commandBreakdown, depthTable, latencyTable, memoryTable, throughputTable, type Row } from './report.js';
import type { ThroughputRow } from './throughput.js';
import { runDepth } from './workloads/depth.js';
import { runGetDone } from './workloads/get-done.js';
import { runLimits } from './workloads/limits.js';
import { runGroups } from './workloads/groups.js';
import { runDataLatency, runTaskLatency } from './workloads/latency.js';
import { runMemory } from './workloads/memory.js';
import { runPut } from './workloads/put.js';
import { runDedupe } from './workloads/dedupe.js';
import { runTaskProcess, runTaskPush } from './workloads/tasks.js';
import { postgresGoals } from './postgres/report.js';
import { startPostgresBench, type PostgresBench } from './postgres/server.js';
import { runPostgres } from './postgres/workload.js';

const WORKLOADS: Readonly<Record<string, (ctx: Context) => Promise<Row[]>>> = {
  put: runPut,
  dedupe: runDedupe,
  'get-done': runGetDone,
  limits: runLimits,
  groups: runGroups,
  'task-push': runTaskPush,
  'task-process': runTaskProcess,
  latency: runDataLatency,
  'task-latency': runTaskLatency,
  memory: runMemory,
  depth: runDepth,
  postgres: runPostgres,
};

const USAGE = `Usage: npm run bench -- [options]

  --quick              1 measured run per cell, shorter runs and smaller fills (about 4 minutes)
  --only <a,b,...>     workloads: ${Object.keys(WORKLOADS).join(', ')}
  --systems <a,b,...>  systems: ${[...SYSTEMS, ...POSTGRES_SYSTEMS].join(', ')} (default: all but visq-otel,
                       visq with a tracer provider registered and sampling off)
  --reps <n>           measured runs per cell (default 3; the warm-up run is extra)
  --json               write bench/results/latest.json and print it on stdout (the tables go to stderr)
  --commands           also print, per throughput cell, the Redis commands per item
  --pin                pin redis-server to the last CPU and everything else to the others (taskset)
  --cpu-prof           write V8 CPU profiles of the agent processes to bench/results/profiles/
  -h, --help`;

const FULL: Settings = {
  quick: false,
  reps: 3,
  targetSeconds: 1.6,
  minSeconds: 1,
  latencyRate: 1000,
  latencySeconds: 2,
  memoryItems: 100_000,
  depths: [1000, 1_000_000],
  depthCalls: 300,
};
const QUICK: Settings = {
  ...FULL,
  quick: true,
  reps: 1,
  targetSeconds: 0.4,
  minSeconds: 0,
  latencySeconds: 1,
  memoryItems: 20_000,
  depths: [1000, 100_000],
  depthCalls: 100,
};

const AGENTS = 4;
const here = (path: string): string => fileURLToPath(new URL(path, import.meta.url));

function fail(message: string): never {
  console.error(`bench: ${message}`);
  process.exit(2);
}

function list<T extends string>(value: string | undefined, allowed: readonly T[], option: string): T[] | undefined {
  if (value === undefined) return undefined;
  const names = value.split(',').map((s) => s.trim()).filter(Boolean);
  for (const name of names) {
    if (!allowed.includes(name as T)) fail(`${option}: unknown "${name}"; expected one of ${allowed.join(', ')}`);
  }
  return names as T[];
}

function packageVersion(path: string): string {
  try {
    return (JSON.parse(readFileSync(here(path), 'utf8')) as { version?: string }).version ?? '?';
  } catch {
    return '?';
  }
}

function gitRevision(): string {
  try {
    const root = here('../..');
    const sha = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src'], { cwd: root, encoding: 'utf8' }).trim();
    return dirty ? `${sha} + uncommitted changes in src/` : sha;
  } catch {
    return 'unknown';
  }
}

/** A digest of src/stores/redis/scripts, so that a result can be tied to the Lua it measured even with uncommitted changes. */
function scriptsDigest(): string {
  const dir = here('../../src/stores/redis/scripts');
  const hash = createHash('sha1');
  const files = readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.lua')).sort();
  for (const file of files) hash.update(file).update(readFileSync(`${dir}/${file}`));
  return hash.digest('hex').slice(0, 10);
}

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    systems: { type: 'string' },
    reps: { type: 'string' },
    json: { type: 'boolean', default: false },
    commands: { type: 'boolean', default: false },
    'cpu-prof': { type: 'boolean', default: false },
    pin: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}
const only = list(values.only, Object.keys(WORKLOADS), '--only') ?? Object.keys(WORKLOADS);
const ALL_SYSTEMS: readonly SystemName[] = [...SYSTEMS, ...POSTGRES_SYSTEMS];
const systems: readonly SystemName[] = list(values.systems, ALL_SYSTEMS, '--systems') ?? DEFAULT_SYSTEMS;
const base = values.quick ? QUICK : FULL;
const reps = values.reps === undefined ? base.reps : Number(values.reps);
if (!Number.isInteger(reps) || reps < 1) fail(`--reps: expected an integer >= 1, got ${values.reps ?? ''}`);
const settings: Settings = { ...base, reps };

if (spawnSync('redis-server', ['--version']).error) {
  fail('redis-server is not on PATH. Install it (e.g. apt-get install redis-server); the benchmark starts its own private server.');
}

// tables and progress go to stderr when stdout carries the JSON
const out = (text: string): void => {
  if (values.json) process.stderr.write(`${text}\n`);
  else process.stdout.write(`${text}\n`);
};
const started = performance.now();
const log = (line: string): void => {
  process.stderr.write(`[${((performance.now() - started) / 1000).toFixed(0).padStart(4)} s] ${line}\n`);
};

// before anything of ours runs: what else is keeping the machine busy
const loadBefore = await measureLoad(1000);
if (loadBefore > 0.2) {
  log(
    `warning: other processes keep ${loadBefore.toFixed(2)} of ${cpus().length} cores busy; ` +
      'the figures will be disturbed (see "other load")',
  );
}
const server = await startRedisServer();
const admin = server.client();
// the postgres workload's own server: Debian's PostgreSQL binaries, as the tests start them
const postgres: PostgresBench | undefined = only.includes('postgres') ? await startPostgresBench() : undefined;
const profileDir = here('../results/profiles');
if (values['cpu-prof']) mkdirSync(profileDir, { recursive: true });
const agentFlags = values['cpu-prof'] ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [];
const pool = new AgentPool(
  AGENTS,
  { host: '127.0.0.1', port: server.port, ...(postgres ? { postgres: postgres.url } : {}) },
  agentFlags,
);

let stopping = false;
async function shutdown(): Promise<void> {
  if (stopping) return;
  stopping = true;
  await pool.stop().catch(() => pool.kill());
  await server.stop();
  await postgres?.stop();
}
process.once('SIGINT', () => {
  pool.kill();
  void Promise.allSettled([server.stop(), postgres?.stop()]).finally(() => process.exit(130));
});

if (values.pin) {
  const last = cpus().length - 1;
  if (last < 1) fail('--pin needs at least 2 CPUs');
  const pin = (pid: number | undefined, cpuList: string): void => {
    if (pid !== undefined) execFileSync('taskset', ['-pc', cpuList, String(pid)], { stdio: 'ignore' });
  };
  const redisPid = Number(/^process_id:(\d+)/m.exec(await admin.info('server'))?.[1]);
  pin(redisPid, String(last));
  pin(process.pid, `0-${last - 1}`);
  pool.onStart((agents) => {
    for (const agent of agents) pin(agent.pid, `0-${last - 1}`);
  });
}

try {
  await pool.start();
  const redisVersion = /^redis_version:(\S+)/m.exec(await admin.info('server'))?.[1] ?? '?';
  const cpuList = cpus();
  const meta = {
    date: new Date().toISOString(),
    machine: {
      cores: cpuList.length,
      cpu: cpuList[0]?.model.trim() ?? '?',
      memoryGiB: Math.round(totalmem() / 2 ** 30),
      kernel: release(),
      /** Cores other processes kept busy in the second before the run. */
      loadBefore,
    },
    node: process.version,
    redis: redisVersion,
    versions: {
      visq: `${packageVersion('../../package.json')} @ ${gitRevision()}, scripts ${scriptsDigest()}`,
      bullmq: packageVersion('../node_modules/bullmq/package.json'),
      'bee-queue': packageVersion('../node_modules/bee-queue/package.json'),
      ioredis: packageVersion('../../node_modules/ioredis/package.json'),
      ...(postgres
        ? {
            postgresql: postgres.version,
            'pg-boss': packageVersion('../node_modules/pg-boss/package.json'),
            'graphile-worker': packageVersion('../node_modules/graphile-worker/package.json'),
            pg: packageVersion('../../node_modules/pg/package.json'),
          }
        : {}),
    },
    settings,
    pinned: values.pin,
    workloads: only,
    systems,
  };
  log(`redis-server ${redisVersion} on port ${server.port}; ${AGENTS} agent processes; workloads: ${only.join(', ')}`);

  const ctx: Context = { settings, admin, pool, systems, shares: new Map(), log, ...(postgres ? { postgres } : {}) };
  const rows: Row[] = [];
  for (const name of only) {
    const run = WORKLOADS[name];
    if (run) rows.push(...(await run(ctx)));
  }
  const goalList = [...goals(rows), ...postgresGoals(rows)];

  const onPostgres = (r: Row): boolean => (POSTGRES_SYSTEMS as readonly string[]).includes(r.system);
  const throughput = rows.filter((r): r is ThroughputRow => r.kind === 'throughput' && !onPostgres(r));
  const postgresRows = rows.filter((r): r is ThroughputRow => r.kind === 'throughput' && onPostgres(r));
  const sections: string[] = [
    `visq benchmark, ${meta.date.slice(0, 10)}: ${meta.machine.cores} × ${meta.machine.cpu}, ${meta.machine.memoryGiB} GiB, ` +
      `Node ${meta.node}, Redis ${meta.redis} (private, no persistence); ` +
      `other processes kept ${loadBefore.toFixed(2)} cores busy before the run`,
    `visq ${meta.versions.visq}, BullMQ ${meta.versions.bullmq}, bee-queue ${meta.versions['bee-queue']}, ` +
      `ioredis ${meta.versions.ioredis}; ` +
      `${settings.reps} measured run(s) per cell after a discarded warm-up${settings.quick ? ' (--quick)' : ''}` +
      `${values.pin ? '; redis-server pinned to its own CPU' : ''}`,
  ];
  if (throughput.length > 0) {
    sections.push(
      'Throughput: items/s is the median of the runs (min–max); visq ÷ = visq items/s over the row\'s. Redis cost per item:\n' +
        '"cmd" is the commandstats time of the commands clients sent (a script with all it ran), "Redis CPU" the server\n' +
        'process\'s CPU time; visq ÷ (Redis CPU) = the row\'s Redis CPU per item over visq\'s. Client CPU: the agents\'.\n' +
        'Other load: cores kept busy by processes outside the benchmark during the worst measured run (over 0.1: disturbed).\n' +
        'Task rows: "defaults" = each system\'s task defaults; "at least once" = visq attempts: 3, visTimeout: 30 and the\n' +
        'peers\' equivalent (3 attempts, stalled-job recovery, no results kept; bench/README.md).\n\n' +
        throughputTable(throughput),
    );
  }
  if (postgresRows.length > 0 && postgres) {
    sections.push(
      `PostgreSQL ${postgres.version} (private, fsync off, synchronous_commit on), pg-boss ${meta.versions['pg-boss'] ?? '?'}, ` +
        `graphile-worker ${meta.versions['graphile-worker'] ?? '?'}, pg ${meta.versions.pg ?? '?'}: visq ÷ = visq-postgres items/s ` +
        'over the row\'s.\nThe "Redis CPU" columns hold the PostgreSQL server\'s CPU per item (all its processes); "cmd" does not apply.\n\n' +
        throughputTable(postgresRows),
    );
  }
  const latency = rows.filter((r) => r.kind === 'latency');
  if (latency.length > 0) {
    sections.push(
      `Latency at ${settings.latencyRate} items/s, one at a time; visq ÷ (p99) = visq p99 over the row's (lower is better for visq)\n\n` +
        latencyTable(latency),
    );
  }
  const memory = rows.filter((r) => r.kind === 'memory');
  if (memory.length > 0) {
    const queued = settings.memoryItems.toLocaleString('en-US');
    sections.push(`Redis memory (used_memory delta over ${queued} queued)\n\n${memoryTable(memory)}`);
  }
  const depth = rows.filter((r) => r.kind === 'depth');
  if (depth.length > 0) sections.push(`Read latency by queue depth\n\n${depthTable(depth)}`);
  sections.push(`Goals\n\n${goalsTable(goalList)}`);
  if (values.commands && throughput.length > 0) sections.push(`Redis commands per item (median run)\n\n${commandBreakdown(throughput)}`);
  out(`\n${sections.join('\n\n')}\n`);

  if (values.json) {
    const resultsDir = here('../results');
    mkdirSync(resultsDir, { recursive: true });
    const document = JSON.stringify({ meta, rows, goals: goalList }, null, 2);
    writeFileSync(`${resultsDir}/latest.json`, `${document}\n`);
    process.stdout.write(`${document}\n`);
    log('wrote bench/results/latest.json');
  }
  log('done');
} finally {
  await shutdown();
}
process.exit(0);
