/**
 * Which store a command reads: a Redis (`--redis-url`, `REDIS_URL`, else the default
 * local one) or a PostgreSQL database (`--pg-url`, `VISQ_PG_URL`, with `--pg-schema`),
 * and opening it so that an unreachable server ends the command with exit code 2 within
 * seconds. `worker` takes neither: its module opens the store of its app.
 */
import type { StoreLike } from '../data/store.js';
import { PostgresStore } from '../stores/postgres/store.js';
import { prefixArg, schemaArg } from './args.js';
import { checkedUrl, closeRedis, connectRedis, DEFAULT_REDIS_URL, redact } from './connect.js';
import { ConnectionFailedError, UsageError } from './failures.js';

/** Where the queues a command reads are, and under which prefix. */
export type StoreTarget =
  | { readonly kind: 'redis'; readonly url: string; readonly prefix: string }
  | { readonly kind: 'postgres'; readonly url: string; readonly schema: string; readonly prefix: string };

/** The options of the commands that open their own store (STORE_OPTIONS). */
export interface StoreValues {
  readonly 'redis-url'?: string | undefined;
  readonly 'pg-url'?: string | undefined;
  readonly 'pg-schema'?: string | undefined;
  readonly prefix?: string | undefined;
}

/** ms to wait for a connection before giving up, as for Redis (connect.ts). */
const CONNECT_TIMEOUT_MS = 3000;

/** `raw` if it is a postgres: or postgresql: URL; `source` names where it came from, for the message. */
export function checkedPostgresUrl(raw: string, source: string): string {
  if (!URL.canParse(raw) || !['postgres:', 'postgresql:'].includes(new URL(raw).protocol)) {
    throw new UsageError(`Expected ${source} to be a postgres:// or postgresql:// URL, got ${JSON.stringify(redact(raw))}`);
  }
  return raw;
}

/**
 * The store the options and the environment name: `--redis-url` or `--pg-url` (not
 * both); without either, `VISQ_PG_URL` or `REDIS_URL` (not both), else the local Redis.
 */
export function storeTarget(values: StoreValues, env: NodeJS.ProcessEnv = process.env): StoreTarget {
  const prefix = prefixArg(values.prefix);
  const redisFlag = values['redis-url'];
  const pgFlag = values['pg-url'];
  if (redisFlag !== undefined && pgFlag !== undefined) {
    throw new UsageError('--redis-url and --pg-url name two stores: give one');
  }
  let target: StoreTarget;
  if (pgFlag !== undefined) {
    target = { kind: 'postgres', url: checkedPostgresUrl(pgFlag, '`--pg-url`'), schema: 'visq', prefix };
  } else if (redisFlag !== undefined) {
    target = { kind: 'redis', url: checkedUrl(redisFlag, '`--redis-url`'), prefix };
  } else if (env.VISQ_PG_URL && env.REDIS_URL) {
    throw new UsageError('Both REDIS_URL and VISQ_PG_URL are set: pass --redis-url or --pg-url to say which store to use');
  } else if (env.VISQ_PG_URL) {
    target = { kind: 'postgres', url: checkedPostgresUrl(env.VISQ_PG_URL, 'VISQ_PG_URL'), schema: 'visq', prefix };
  } else {
    target = { kind: 'redis', url: checkedUrl(env.REDIS_URL || DEFAULT_REDIS_URL, 'REDIS_URL'), prefix };
  }
  if (values['pg-schema'] !== undefined) {
    if (target.kind !== 'postgres') throw new UsageError('--pg-schema goes with a PostgreSQL store (--pg-url or VISQ_PG_URL)');
    target = { ...target, schema: schemaArg('--pg-schema', values['pg-schema']) };
  }
  return target;
}

/** A store a command opened, and how to close it. */
export interface OpenStore {
  /** What to hand to DataQueue, Visq and the dashboard. */
  readonly store: StoreLike;
  close(): Promise<void>;
}

/**
 * Opens the target's store once it has answered: the first attempt fails fast
 * (ConnectionFailedError, exit 2). With `reconnect` (serve), a connection lost later is
 * made again by itself.
 */
export async function openStore(target: StoreTarget, options: { reconnect?: boolean } = {}): Promise<OpenStore> {
  if (target.kind === 'redis') {
    const redis = await connectRedis(target.url, options);
    return { store: redis, close: () => closeRedis(redis) };
  }
  const store = new PostgresStore(
    { connectionString: target.url, max: 4, connectionTimeoutMillis: CONNECT_TIMEOUT_MS },
    { schema: target.schema },
  );
  try {
    // the store's message names the server without its password
    await store.checkConnection(CONNECT_TIMEOUT_MS);
  } catch (error) {
    await store.close();
    throw new ConnectionFailedError(error instanceof Error ? error.message : String(error), { cause: error });
  }
  return { store, close: () => store.close() };
}

/** Opens the target's store, runs `use`, and always closes the store afterwards. */
export async function withStore<R>(target: StoreTarget, use: (store: StoreLike) => Promise<R>): Promise<R> {
  const opened = await openStore(target);
  try {
    return await use(opened.store);
  } finally {
    await opened.close();
  }
}
