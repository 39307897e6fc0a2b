/**
 * How the PostgresStore reaches its server: the `pg` package, loaded only when a
 * PostgresStore is created (an optional peer dependency: `import 'visq'` works without
 * it), the pool of connections, the caller's transaction client, and one place that turns
 * a driver error into a StoreError.
 */
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { StoreError, VisqError } from '../../errors.js';
import type { SqlClient } from '../../data/options.js';

/** A prepared statement: its text and the name the server caches its plan under. */
export interface Statement {
  readonly name: string;
  readonly text: string;
}

/** Names a statement after its text, so that two texts never share a name on one connection. */
export function statement(text: string): Statement {
  return { name: `visq_${createHash('sha1').update(text).digest('hex').slice(0, 20)}`, text };
}

/** A row as the driver returns it. */
export type Row = Record<string, unknown>;

/**
 * A `pg.Pool`, or anything shaped like one: the store runs its statements through
 * `query`, takes a connection with `connect` for migrations, and never calls `end` on a
 * pool it did not create.
 */
export interface PostgresPool {
  query(config: { text: string; values?: unknown[]; name?: string }): Promise<{ rows: unknown[] }>;
  connect(): Promise<PostgresPoolClient>;
  end(): Promise<void>;
}

/** A connection taken from a {@link PostgresPool}. */
export interface PostgresPoolClient {
  query(text: string, values?: unknown[]): Promise<{ rows: unknown[] }>;
  query(config: { text: string; values?: unknown[]; name?: string }): Promise<{ rows: unknown[] }>;
  release(destroy?: boolean | Error): void;
  /** pg's clients are event emitters; a pool shaped like pg's may hand out clients that are not. */
  on?(event: 'error', listener: (error: Error) => void): unknown;
  removeListener?(event: 'error', listener: (error: Error) => void): unknown;
}

/**
 * A statement sent once on each connection of a pool the store created, before its first
 * statement of the store's (a session setting: docs/postgres.md, "Plans").
 */
export interface SessionSetup {
  readonly text: string;
  /** The connections it was sent on. */
  readonly done: WeakSet<object>;
}

/** A connection held by the store; `release` hands it back, or drops it after `failure`. */
export interface HeldClient {
  readonly client: PostgresPoolClient;
  release(failure?: unknown): void;
}

/**
 * Takes a connection of `pool` for a transaction or a migration. While the store holds
 * it, pg's pool listens for none of its errors, and a connection that the server ends
 * (a restart, pg_terminate_backend) emits 'error' on the client: without a listener that
 * ends the process. The pending query fails and says so; the listener only keeps the
 * process alive, and the failed connection is dropped on release.
 */
export async function checkout(pool: PostgresPool, operation: string, setup?: SessionSetup): Promise<HeldClient> {
  let client: PostgresPoolClient;
  try {
    client = await pool.connect();
  } catch (error) {
    throw toStoreError(error, operation);
  }
  let lost: Error | undefined;
  const onError = (error: Error): void => {
    lost = error;
  };
  client.on?.('error', onError);
  if (setup && !setup.done.has(client)) {
    // once per connection; a server that refuses the setting runs the statements all the same
    await client.query(setup.text).catch(() => undefined);
    setup.done.add(client);
  }
  return {
    client,
    release(failure?: unknown): void {
      client.removeListener?.('error', onError);
      const broken = lost ?? (failure instanceof Error ? failure : undefined);
      client.release(broken);
    },
  };
}

/** What the store needs of `pg`. */
export interface PgModule {
  Pool: new (config: Record<string, unknown>) => PostgresPool & {
    on(event: 'error', listener: (error: Error) => void): unknown;
    on(event: 'connect', listener: (client: { on(event: 'error', listener: (error: Error) => void): unknown }) => void): unknown;
  };
  Client: new (config: Record<string, unknown>) => ListenClient;
}

/** A connection of its own for LISTEN. */
export interface ListenClient {
  connect(): Promise<unknown>;
  query(text: string): Promise<unknown>;
  end(): Promise<void>;
  on(event: 'notification', listener: (message: { channel: string; payload?: string }) => void): unknown;
  on(event: 'error' | 'end', listener: (error?: Error) => void): unknown;
}

let pgModule: PgModule | undefined;

/**
 * The `pg` package. It is loaded here, when the first PostgresStore is created, and not
 * when visq is imported: it is an optional peer dependency.
 */
export function loadPg(): PgModule {
  if (pgModule) return pgModule;
  try {
    pgModule = createRequire(import.meta.url)('pg') as PgModule;
  } catch (cause) {
    throw new VisqError(
      "PostgresStore needs the 'pg' package (node-postgres), which is not installed: run `npm install pg`",
      'ERR_VISQ_STORE',
      { cause },
    );
  }
  return pgModule;
}

export function isPool(value: unknown): value is PostgresPool {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as PostgresPool).query === 'function' &&
    typeof (value as PostgresPool).connect === 'function' &&
    typeof (value as PostgresPool).end === 'function'
  );
}

/** A StoreError for a failed `operation`, keeping the driver's error as `cause`. */
export function toStoreError(error: unknown, operation: string): StoreError {
  if (error instanceof StoreError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new StoreError(`PostgreSQL failed ${operation}: ${message}`, { cause: error });
}

/**
 * Runs `stmt` with `values`: in the caller's transaction through `db` when given (as
 * plain text: a caller's client may not take statement names), else on the pool as a
 * named statement, which each connection parses and plans once.
 */
export async function run(
  pool: PostgresPool,
  stmt: Statement,
  values: unknown[],
  operation: string,
  db?: SqlClient,
  setup?: SessionSetup,
): Promise<Row[]> {
  if (setup && !db) {
    // pool.query, by hand: a held connection gets its session setting first
    const held = await checkout(pool, operation, setup);
    let failed: unknown;
    try {
      return (await held.client.query({ name: stmt.name, text: stmt.text, values })).rows as Row[];
    } catch (error) {
      failed = error;
      throw toStoreError(error, operation);
    } finally {
      // as pool.query does: a connection whose statement failed is not reused
      held.release(failed);
    }
  }
  try {
    const result = db ? await db.query(stmt.text, values) : await pool.query({ name: stmt.name, text: stmt.text, values });
    return result.rows as Row[];
  } catch (error) {
    throw toStoreError(error, operation);
  }
}
