/**
 * The `postgres` workload: visq's PostgresStore against pg-boss and graphile-worker on
 * one private PostgreSQL, each system's tables emptied between runs. Put in batches of
 * 100 (4 producer processes); get+done at batches of 1, 10, 100 and 1000 (4 consumer
 * processes; the queue filled first, until a read finds it empty); task processing at
 * concurrency 50 (1 worker process; the tasks enqueued first); and, for visq alone, its
 * deduplicated put and get+done over ordered groups. Rows carry the PostgreSQL server's
 * CPU per item where the Redis rows carry Redis's.
 */
import { split, type Context } from '../context.js';
import { POSTGRES_SYSTEMS, type PostgresSystemName } from '../protocol.js';
import { measureThroughput, type ThroughputRow, type ThroughputSpec } from '../throughput.js';

const PRODUCERS = 4;
const CONSUMERS = 4;
const PUT_BATCH = 100;
const FILL_BATCH = 1000;
const GET_BATCHES = [1, 10, 100, 1000] as const;
/** Warm-up sizes: roughly a second's worth on a 2-core machine for the fastest system. */
const GET_INITIAL: Record<(typeof GET_BATCHES)[number], number> = { 1: 4000, 10: 20_000, 100: 40_000, 1000: 60_000 };
const MIN_TASKS = 10_000;
const TASK_CONCURRENCY = 50;

type Server = NonNullable<ThroughputSpec['server']>;

/**
 * A put row: the producers put in batches of PUT_BATCH; `dedupe` gives each item a new
 * dedupe key (visq only).
 */
function putRow(system: PostgresSystemName, server: Server, workload: string, initialN: number, dedupe = false): ThroughputSpec {
  return {
    group: dedupe ? 'postgres-dedupe' : 'postgres-put',
    workload,
    system,
    server,
    timed: (n) =>
      split(n, PRODUCERS, PUT_BATCH).map((count, agent) => ({
        agent,
        job: { kind: 'put', system, target: 'data', count, batch: PUT_BATCH, ...(dedupe ? { dedupe: true } : {}) },
      })),
    initialN,
    minN: PRODUCERS * PUT_BATCH,
    step: PRODUCERS * PUT_BATCH,
  };
}

/**
 * A get+done row: the queue filled first, then the consumers read `batch` at a time and
 * finish what they read until it is empty; `groups` spreads the fill over that many
 * ordered groups (visq only).
 */
function getDoneRow(
  system: PostgresSystemName,
  server: Server,
  workload: string,
  batch: number,
  initialN: number,
  groups?: number,
): ThroughputSpec {
  return {
    group: groups ? 'postgres-groups' : 'postgres-get-done',
    workload,
    system,
    server,
    fill: (n) =>
      split(n, CONSUMERS, FILL_BATCH).map((count, agent) => ({
        agent,
        job: { kind: 'put', system, target: 'data', count, batch: FILL_BATCH, ...(groups ? { groups } : {}) },
      })),
    timed: () => Array.from({ length: CONSUMERS }, (_, agent) => ({ agent, job: { kind: 'drain', system, batch } })),
    initialN,
    minN: 1000,
    step: 1000,
  };
}

/** Groups over which the grouped row spreads its items, as the Redis groups row does. */
const GROUP_COUNT = 1000;

export async function runPostgres(ctx: Context): Promise<ThroughputRow[]> {
  const pg = ctx.postgres;
  if (!pg) throw new Error('the postgres workload needs its PostgreSQL (main.ts starts it)');
  const systems = POSTGRES_SYSTEMS.filter((s) => ctx.systems.includes(s));
  const quick = (n: number): number => (ctx.settings.quick ? Math.max(1000, n / 4) : n);
  const server = (system: PostgresSystemName): Server => ({
    flush: () => pg.flush(system),
    cpuMicros: () => pg.cpuMicros(),
  });
  const rows: ThroughputRow[] = [];

  for (const system of systems) {
    rows.push(await measureThroughput(ctx, putRow(system, server(system), `postgres: put, batches of ${PUT_BATCH}`, quick(40_000))));
  }
  for (const batch of GET_BATCHES) {
    for (const system of systems) {
      const workload = `postgres: get+done, batches of ${batch}, ${CONSUMERS} consumers`;
      rows.push(await measureThroughput(ctx, getDoneRow(system, server(system), workload, batch, quick(GET_INITIAL[batch]))));
    }
  }
  if (systems.includes('visq-postgres')) {
    // visq's features (the peers have none of them), each beside its plain row above
    const visq = 'visq-postgres';
    rows.push(await measureThroughput(ctx, putRow(visq, server(visq), `postgres: dedupe put, batches of ${PUT_BATCH}`, quick(20_000), true)));
    const grouped = `postgres: get+done, batches of 100, ${CONSUMERS} consumers, ${GROUP_COUNT.toLocaleString('en-US')} ordered groups`;
    rows.push(await measureThroughput(ctx, getDoneRow(visq, server(visq), grouped, 100, quick(GET_INITIAL[100] / 2), GROUP_COUNT)));
  }
  for (const system of systems) {
    rows.push(
      await measureThroughput(ctx, {
        group: 'postgres-task-process',
        workload: `postgres: task processing, 1 worker, concurrency ${TASK_CONCURRENCY}`,
        system,
        server: server(system),
        fill: (n) =>
          split(n, PRODUCERS, FILL_BATCH).map((count, agent) => ({
            agent,
            job: { kind: 'put', system, target: 'tasks', count, batch: FILL_BATCH },
          })),
        timed: (n) => [{ agent: 0, job: { kind: 'process', system, concurrency: TASK_CONCURRENCY, count: n } }],
        initialN: MIN_TASKS,
        minN: MIN_TASKS,
        step: FILL_BATCH,
      }),
    );
  }
  return rows;
}
