/**
 * The private PostgreSQL of the `postgres` workload: started the way the tests start
 * theirs (test/harness/postgres-server.ts: Debian's binaries, a free port, a temporary
 * directory, fsync off), with a database of its own. It never touches a server it did not
 * start. Between runs each system's tables are emptied (TRUNCATE: no bloat carries over);
 * the server's CPU is the postmaster's and its processes', read from /proc.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { createDatabase, startPostgresServer, type PostgresServer } from '../../../test/harness/postgres-server.js';
import type { PostgresSystemName } from '../protocol.js';

export interface PostgresBench {
  /** The database the systems use. */
  readonly url: string;
  readonly version: string;
  /** Empties the tables of `system` (its schema and migrations stay). */
  flush(system: PostgresSystemName): Promise<void>;
  /** CPU PostgreSQL has used since it started, µs: the postmaster, its live processes and those that ended. */
  cpuMicros(): Promise<number>;
  stop(): Promise<void>;
}

/** The tables each system keeps its jobs in, emptied between runs; absent ones are skipped. */
const TABLES: Record<PostgresSystemName, readonly string[]> = {
  'visq-postgres': [
    'visq.items',
    'visq.dead',
    'visq.totals',
    'visq.registry',
    'visq.tasks',
    'visq.task_metrics',
    'visq.task_failures',
    'visq.claims',
    'visq.dedupe',
    'visq.group_turns',
    'visq.group_queues',
    'visq.limits',
  ],
  'pg-boss': ['pgboss.job', 'pgboss.archive'],
  'graphile-worker': ['graphile_worker._private_jobs', 'graphile_worker._private_job_queues'],
};

/** Clock ticks per second of /proc's CPU times (USER_HZ, 100 on Linux). */
const TICKS = 100;

function cpuTicks(stat: string): { ppid: number; own: number; children: number } {
  // the command name can hold spaces and parentheses: fields count from the last ')'
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const at = (i: number): number => Number(fields[i - 3]);
  return { ppid: at(4), own: at(14) + at(15), children: at(16) + at(17) };
}

function readStat(pid: number | string): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined; // ended meanwhile
  }
}

export async function startPostgresBench(): Promise<PostgresBench> {
  const server: PostgresServer = await startPostgresServer();
  const database = await createDatabase(server);
  const admin = new pg.Client({ connectionString: database.url, application_name: 'bench-admin' });
  admin.on('error', () => undefined);
  await admin.connect();
  const version = String(((await admin.query('SHOW server_version')).rows[0] as { server_version: string }).server_version);
  const postmaster = Number(readFileSync(join(server.dir, 'data', 'postmaster.pid'), 'utf8').split('\n')[0]);
  return {
    url: database.url,
    version,
    async flush(system) {
      const present: string[] = [];
      for (const table of TABLES[system]) {
        const { rows } = await admin.query('SELECT to_regclass($1) IS NOT NULL AS present', [table]);
        if ((rows[0] as { present: boolean }).present) present.push(table);
      }
      if (present.length > 0) await admin.query(`TRUNCATE ${present.join(', ')}`);
    },
    async cpuMicros() {
      const own = readStat(postmaster);
      if (!own) return 0;
      const main = cpuTicks(own);
      let ticks = main.own + main.children;
      for (const entry of readdirSync('/proc')) {
        if (!/^\d+$/.test(entry)) continue;
        const stat = readStat(entry);
        if (!stat) continue;
        const proc = cpuTicks(stat);
        if (proc.ppid === postmaster) ticks += proc.own;
      }
      return (ticks * 1e6) / TICKS;
    },
    async stop() {
      await admin.end().catch(() => undefined);
      await database.drop().catch(() => undefined);
      await server.stop();
    },
  };
}
