/**
 * The server of a chaos run and what can be done to it: a private redis-server with AOF
 * (`appendfsync everysec`) and `noeviction`, restarted from its AOF after SIGTERM or
 * SIGKILL, its script cache flushed, every client connection dropped (CLIENT KILL), full
 * for a moment; or a private PostgreSQL, its client connections terminated
 * (pg_terminate_backend: blocked reads' LISTEN connections, statements and transactions
 * in flight), stopped cleanly and started again, and crashed (an immediate shutdown:
 * crash recovery from its WAL at the next start).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import pg from 'pg';
import { PostgresStore, type StoreLike } from '../../src/index.js';
import { createDatabase, startPostgresServer } from '../harness/postgres-server.js';
import { startRedisServer, type RedisServer } from '../harness/redis-server.js';

export type ChaosStoreKind = 'redis' | 'postgres';

export type ServerDisruption =
  | 'restart-redis'
  | 'crash-redis'
  | 'flush-scripts'
  | 'client-kill'
  | 'full'
  | 'terminate-connections'
  | 'restart-postgres'
  | 'crash-postgres';

/** What was done to the server of a run (the fields of the other kind of server stay 0). */
export interface ServerFigures {
  /** Redis stopped with SIGTERM and started again from its AOF. */
  redisRestarts: number;
  /** Redis killed with SIGKILL and started again from its AOF. */
  redisCrashes: number;
  scriptFlushes: number;
  /** CLIENT KILL rounds, the connections they dropped, and how many of those were blocked in a read. */
  clientKills: number;
  clientsDropped: number;
  blockedDropped: number;
  /** Moments Redis was full (maxmemory). */
  fullEpisodes: number;
  /** Scripts run with EVAL: a NOSCRIPT fallback after a restart or a flush. */
  evalFallbacks: number;
  /** pg_terminate_backend rounds and the connections they ended (of them LISTEN connections). */
  terminations: number;
  connectionsTerminated: number;
  listenersTerminated: number;
  /** PostgreSQL stopped cleanly (fast shutdown) and started again. */
  postgresRestarts: number;
  /** PostgreSQL crashed (immediate shutdown) and started again, recovering from its WAL. */
  postgresCrashes: number;
}

export function noServerFigures(): ServerFigures {
  return {
    redisRestarts: 0,
    redisCrashes: 0,
    scriptFlushes: 0,
    clientKills: 0,
    clientsDropped: 0,
    blockedDropped: 0,
    fullEpisodes: 0,
    evalFallbacks: 0,
    terminations: 0,
    connectionsTerminated: 0,
    listenersTerminated: 0,
    postgresRestarts: 0,
    postgresCrashes: 0,
  };
}

/** A disruption of the server: how often a plan must do it, and its weight afterwards. */
export interface ServerFault {
  readonly name: ServerDisruption;
  readonly required: number;
  readonly weight: number;
}

export interface ChaosServer {
  readonly kind: ChaosStoreKind;
  /** Where the fixture processes connect (CHAOS_URL). */
  readonly url: string;
  readonly faults: readonly ServerFault[];
  /** A store for the orchestrating process (the producer, the checks); closed by `stop`. */
  store(): StoreLike;
  /** Carries out one of `faults`, counting it in `figures`. */
  run(fault: ServerDisruption, figures: ServerFigures, next: () => number): Promise<void>;
  /** Counts what only the server knows, before the checks (Redis: EVAL fallbacks). */
  finish(figures: ServerFigures): Promise<void>;
  stop(): Promise<void>;
}

export function startChaosServer(kind: ChaosStoreKind): Promise<ChaosServer> {
  return kind === 'postgres' ? startChaosPostgres() : startChaosRedis();
}

/** Sums `cmdstat_eval` calls: scripts that had to be sent in full after NOSCRIPT. */
async function evalCalls(admin: Redis): Promise<number> {
  const stats = await admin.info('commandstats');
  return Number(/^cmdstat_eval:calls=(\d+)/m.exec(stats)?.[1] ?? 0);
}

/**
 * Holds writes until everything acknowledged is in the AOF file, so that a SIGKILL then
 * loses nothing and the ledger stays exact. Without it a SIGKILL can lose acknowledged
 * writes: with `appendfsync everysec`, while a background fsync is running, Redis
 * (7.0 at least) postpones writing its AOF buffer — for up to 2 s — yet goes on answering
 * clients. Reads, blocked reads and connections go on as before.
 */
async function quiesceAof(admin: Redis): Promise<void> {
  for (let poll = 0; poll < 2000; poll += 1) {
    // paused again each time, so the pause still holds when the check passes (a slow disk
    // can keep an fsync going for seconds)
    await admin.client('PAUSE', 2000, 'WRITE');
    const info = await admin.info('persistence');
    const field = (name: string): string | undefined => new RegExp(`^${name}:(\\d+)`, 'm').exec(info)?.[1];
    if (field('aof_pending_bio_fsync') === '0' && field('aof_buffer_length') === '0') return;
    await sleep(5);
  }
  throw new Error('the AOF fsync did not finish within 10 s of pausing writes');
}

async function startChaosRedis(): Promise<ChaosServer> {
  const server: RedisServer = await startRedisServer([
    '--appendonly',
    'yes',
    '--appendfsync',
    'everysec',
    '--maxmemory-policy',
    'noeviction',
  ]);
  const admin = server.client();
  admin.on('error', () => undefined);
  const restart = async (signal: NodeJS.Signals, figures: ServerFigures): Promise<void> => {
    // a restarted Redis starts its command stats from zero
    figures.evalFallbacks += await evalCalls(admin);
    if (signal === 'SIGKILL') await quiesceAof(admin);
    await server.kill(signal);
    await server.restart();
  };
  return {
    kind: 'redis',
    url: server.url,
    faults: [
      { name: 'client-kill', required: 2, weight: 3 },
      { name: 'restart-redis', required: 1, weight: 1 },
      { name: 'crash-redis', required: 1, weight: 1 },
      { name: 'flush-scripts', required: 1, weight: 1 },
      { name: 'full', required: 1, weight: 1 },
    ],
    store() {
      const redis = server.client();
      redis.on('error', () => undefined);
      return redis;
    },
    async run(fault, f, next) {
      switch (fault) {
        case 'restart-redis':
          await restart('SIGTERM', f);
          f.redisRestarts += 1;
          return;
        case 'crash-redis':
          await restart('SIGKILL', f);
          f.redisCrashes += 1;
          return;
        case 'flush-scripts':
          await admin.script('FLUSH');
          f.scriptFlushes += 1;
          return;
        case 'client-kill': {
          const clients = String(await admin.client('LIST'));
          f.blockedDropped += clients.split('\n').filter((line) => / flags=\S*b/.test(line)).length;
          f.clientsDropped += Number(await admin.client('KILL', 'TYPE', 'normal', 'SKIPME', 'yes'));
          f.clientKills += 1;
          return;
        }
        case 'full':
          await admin.config('SET', 'maxmemory', '1');
          await sleep(300 + Math.floor(next() * 400));
          await admin.config('SET', 'maxmemory', '0');
          f.fullEpisodes += 1;
          return;
        default:
          throw new Error(`${fault} is no disruption of a Redis`);
      }
    },
    async finish(f) {
      f.evalFallbacks += await evalCalls(admin);
    },
    stop: () => server.stop(),
  };
}

/**
 * A private PostgreSQL and a database of the run's own. The server runs with fsync off
 * (postgres-server.ts): a crash of the server (an immediate shutdown) loses nothing
 * committed, as only a crash of the machine could.
 */
async function startChaosPostgres(): Promise<ChaosServer> {
  const server = await startPostgresServer();
  const database = await createDatabase(server);
  const stores: PostgresStore[] = [];
  /** A connection of its own per call: the admin's connection is terminated by restarts too. */
  const admin = async <R>(fn: (client: pg.Client) => Promise<R>): Promise<R> => {
    const client = new pg.Client({ connectionString: database.url, application_name: 'chaos-admin' });
    client.on('error', () => undefined);
    await client.connect();
    try {
      return await fn(client);
    } finally {
      await client.end().catch(() => undefined);
    }
  };
  return {
    kind: 'postgres',
    url: database.url,
    faults: [
      { name: 'terminate-connections', required: 2, weight: 3 },
      { name: 'restart-postgres', required: 1, weight: 1 },
      { name: 'crash-postgres', required: 1, weight: 1 },
    ],
    store() {
      const store = new PostgresStore({ connectionString: database.url, max: 6 });
      stores.push(store);
      return store;
    },
    async run(fault, f) {
      switch (fault) {
        case 'terminate-connections': {
          const { rows } = await admin((client) =>
            client.query(
              `SELECT count(pg_terminate_backend(pid))::int AS ended,
                 count(*) FILTER (WHERE application_name LIKE '%:listen' OR application_name LIKE '%:events')::int AS listeners
               FROM pg_stat_activity
               WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'`,
            ),
          );
          const { ended, listeners } = rows[0] as { ended: number; listeners: number };
          f.connectionsTerminated += ended;
          f.listenersTerminated += listeners;
          f.terminations += 1;
          return;
        }
        case 'restart-postgres':
          await server.halt('fast');
          await server.start();
          f.postgresRestarts += 1;
          return;
        case 'crash-postgres':
          await server.halt('immediate');
          await server.start();
          f.postgresCrashes += 1;
          return;
        default:
          throw new Error(`${fault} is no disruption of a PostgreSQL`);
      }
    },
    async finish() {
      // nothing only the server knows
    },
    async stop() {
      await Promise.all(stores.map((store) => store.close()));
      await database.drop().catch(() => undefined);
      await server.stop();
    },
  };
}
