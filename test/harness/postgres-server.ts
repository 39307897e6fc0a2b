/**
 * Starts private PostgreSQL servers for tests, as redis-server.ts does for Redis: Debian's
 * binaries (/usr/lib/postgresql/<version>/bin, or VISQ_PG_BIN), a new cluster in a
 * temporary directory, a free port on 127.0.0.1 and its unix socket in that directory.
 * PostgreSQL refuses to run as root, so when the tests run as root the server runs as the
 * `postgres` system user (or VISQ_PG_USER). fsync is off: a test server never outlives a
 * crash of its machine (a crash of the server itself loses nothing committed). Never touches
 * a server it did not start; `VISQ_PG_URL` points the tests at a server of the caller's
 * instead, where each test file creates (and drops) a database of its own.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { freePort, stopChild } from './redis-server.js';

/** Where to reach a server, whoever started it. */
export interface PostgresAddress {
  /** `postgresql://…` of the server's maintenance database (`postgres`). */
  readonly url: string;
}

/** A running private PostgreSQL server. */
export interface PostgresServer extends PostgresAddress {
  readonly port: number;
  readonly dir: string;
  /** Stops the server (fast shutdown) and removes its directory. */
  stop(): Promise<void>;
  /** Stops the server: `mode` 'fast' (clean) or 'immediate' (a crash, recovered at the next start). */
  halt(mode?: 'fast' | 'immediate'): Promise<void>;
  /** Starts it again after `halt`, on the same port and directory. */
  start(): Promise<void>;
}

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** The directory of Debian's PostgreSQL binaries: the newest installed version. */
function binDir(): string {
  const fromEnv = process.env.VISQ_PG_BIN;
  if (fromEnv) return fromEnv;
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).filter((v) => /^\d+$/.test(v)) : [];
  const newest = versions.sort((a, b) => Number(b) - Number(a))[0];
  if (!newest) throw new Error('PostgreSQL is not installed (apt-get install postgresql), and VISQ_PG_BIN is not set');
  return join(root, newest, 'bin');
}

/** The uid/gid to run PostgreSQL as: ours, unless we are root. */
function runAs(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const user = process.env.VISQ_PG_USER ?? 'postgres';
  const uid = Number(execFileSync('id', ['-u', user], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', user], { encoding: 'utf8' }).trim());
  return { uid, gid };
}

const SETTINGS = [
  // fsync off: a commit is written to the OS, not forced to disk. An acknowledged commit
  // survives a crash of the server (the crash tests) though not of the machine; keep
  // synchronous_commit on, without which a server crash loses acknowledged commits
  'fsync=off',
  'full_page_writes=off',
  'max_connections=400',
  'shared_buffers=64MB',
  // tests leave connections that a crash test kills; no need to log each one
  'log_min_messages=fatal',
];

/** Starts a new private server; resolves once it accepts connections. */
export async function startPostgresServer(): Promise<PostgresServer> {
  const bin = binDir();
  const user = runAs();
  const dir = mkdtempSync(join(tmpdir(), 'visq-pg-'));
  if (user) chownSync(dir, user.uid, user.gid);
  const data = join(dir, 'data');
  execFileSync(
    join(bin, 'initdb'),
    ['-D', data, '-U', 'visq', '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-sync', '--no-instructions'],
    // run from the server's own directory: the postgres user may not reach the caller's
    { stdio: 'ignore', cwd: dir, ...user },
  );
  const port = await freePort();
  const url = `postgresql://visq@127.0.0.1:${port}/postgres`;
  let child: ChildProcess | undefined;

  const start = async (): Promise<void> => {
    const args = ['-D', data, '-p', String(port), '-k', dir, '-c', 'listen_addresses=127.0.0.1'];
    for (const setting of SETTINGS) args.push('-c', setting);
    const launched = spawn(join(bin, 'postgres'), args, { stdio: 'ignore', cwd: dir, ...user });
    running.add(launched);
    launched.once('exit', () => running.delete(launched));
    child = launched;
    await untilReady(url, launched, Date.now() + 20_000);
  };

  const halt = async (mode: 'fast' | 'immediate' = 'fast'): Promise<void> => {
    if (!child) return;
    // SIGINT: fast shutdown (rolls back, checkpoints); SIGQUIT: immediate (recovery at start)
    await stopChild(child, mode === 'fast' ? 'SIGINT' : 'SIGQUIT');
    child = undefined;
  };

  await start();
  return {
    url,
    port,
    dir,
    halt,
    start,
    async stop() {
      await halt('fast');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function untilReady(url: string, child: ChildProcess, deadline: number): Promise<void> {
  for (;;) {
    if (child.exitCode !== null) throw new Error(`postgres exited with code ${child.exitCode} while starting`);
    const probe = new pg.Client({ connectionString: url });
    probe.on('error', () => {});
    try {
      await probe.connect();
      await probe.query('SELECT 1');
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 25));
    } finally {
      await probe.end().catch(() => {});
    }
  }
}

let databases = 0;

/**
 * Creates a new database on the server at `address` and returns its URL and a function
 * that drops it (ending every connection to it first).
 */
export async function createDatabase(address: PostgresAddress): Promise<{ url: string; drop(): Promise<void> }> {
  databases += 1;
  const name = `visq_test_${process.pid}_${databases}_${Math.random().toString(36).slice(2, 8)}`;
  await onServer(address, (client) => client.query(`CREATE DATABASE ${name}`));
  const url = new URL(address.url);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: () => onServer(address, (client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(() => undefined),
  };
}

async function onServer<R>(address: PostgresAddress, fn: (client: pg.Client) => Promise<R>): Promise<R> {
  const client = new pg.Client({ connectionString: address.url });
  client.on('error', () => {});
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}
