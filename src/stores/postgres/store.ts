/**
 * PostgresStore: queues in PostgreSQL tables, behind the same storage seam as Redis and
 * the MemoryStore, so DataQueue and its contract suites run unchanged on it. Each
 * operation is one SQL statement (src/stores/postgres/sql), prepared once per connection;
 * time comes from the database clock; puts and dones can run inside the caller's own
 * transaction. See docs/postgres.md.
 */
import { ClosedError, StoreError, VisqRangeError, VisqTypeError } from '../../errors.js';
import { TIMED_OUT, within } from '../../sleep.js';
import type { QueueBackend, QueueStore } from '../../data/backend.js';
import type { SqlClient } from '../../data/options.js';
import * as check from '../../validate.js';
import { describe } from '../../validate.js';
import { Announcer } from './announcer.js';
import { PostgresQueueBackend } from './backend.js';
import {
  checkout,
  isPool,
  loadPg,
  run,
  statement,
  toStoreError,
  type ListenClient,
  type PostgresPool,
  type Row,
  type SessionSetup,
  type Statement,
} from './connection.js';
import { migrate } from './migrate.js';
import { fromStored, toStored } from './names.js';
import { forgetStatement, namesStatement, registerStatement } from './sql/registry.js';
import { channelOf, literal } from './sql/schema.js';
import type { Tables } from './sql/lib.js';
import { PostgresTaskStore } from './task-store.js';
import type { TaskStore, TaskStoreProvider } from '../../tasks/task-store.js';
import { Wakeups } from './wakeups.js';

export type { PostgresPool, PostgresPoolClient } from './connection.js';

/** Connection settings for a pool the store creates and ends: `pg.Pool` options. */
export interface PostgresConnectionOptions {
  /** `postgresql://user:password@host:port/database?…` */
  readonly connectionString: string;
  /** Any other `pg.Pool` option (`max`, `ssl`, `idleTimeoutMillis`, …), passed through. */
  readonly [option: string]: unknown;
}

/** Options of `new PostgresStore(connection, options)`. */
export interface PostgresStoreOptions {
  /**
   * The schema that holds visq's tables, created and migrated on first use: a lowercase
   * SQL identifier (letters, digits, `_`; at most 63 characters). Default `'visq'`.
   */
  readonly schema?: string;
  /**
   * Where the LISTEN connection of blocking reads goes, when it must differ from the
   * pool's server: behind PgBouncer in transaction mode (which cannot LISTEN), the URL of
   * PostgreSQL itself. Default: the pool's own connection settings.
   */
  readonly listenUrl?: string;
}

/** What the backends of one PostgresStore share. */
export class StoreCore {
  readonly pool: PostgresPool;
  readonly schema: string;
  readonly quoted: string;
  readonly wakeups: Wakeups;
  readonly announcer: Announcer;
  /** The store itself: the test clock hook is keyed by it. */
  readonly clockKey: object;
  readonly #statements = new Map<string, Statement>();
  /** What each connection of a pool the store created is told first; none on a caller's pool. */
  readonly #setup: SessionSetup | undefined;
  #ready: Promise<void> | undefined;
  closed = false;

  constructor(pool: PostgresPool, schema: string, clockKey: object, listen: () => ListenClient, setup?: SessionSetup) {
    this.#setup = setup;
    this.pool = pool;
    this.schema = schema;
    this.quoted = `"${schema}"`;
    this.clockKey = clockKey;
    const channel = channelOf(schema);
    this.wakeups = new Wakeups(listen, channel);
    const notify = statement('SELECT pg_notify($1, $2)');
    this.announcer = new Announcer(async (base) => {
      await run(pool, notify, [channel, base], 'waking readers', undefined, setup);
    });
  }

  /** The tables of the queue at `base`: a dead-letter queue (`…}:dead`) lives in the dead table. */
  tables(base: string): Tables {
    const own = base.endsWith('}') ? 'items' : 'dead';
    return {
      schema: this.quoted,
      items: `${this.quoted}.${own}`,
      dead: `${this.quoted}.dead`,
      channel: literal(channelOf(this.schema)),
    };
  }

  /** The statement `build` makes for `key`, built and named once. */
  statement(key: string, build: () => string): Statement {
    let found = this.#statements.get(key);
    if (!found) {
      found = statement(build());
      this.#statements.set(key, found);
    }
    return found;
  }

  /** Resolves once the schema is there (created or migrated on the first call). */
  ready(): Promise<void> {
    if (this.closed) return Promise.reject(new ClosedError('PostgresStore'));
    this.#ready ??= migrate(this.pool, this.schema, this.quoted).catch((error: unknown) => {
      // a failure (the server down, say) is not remembered: the next call tries again
      this.#ready = undefined;
      throw error;
    });
    return this.#ready;
  }

  /**
   * Items of `base` became visible in a committed statement of this store: wakes readers
   * here at once, and elsewhere with a trailing NOTIFY when the statement sent none.
   */
  shown(base: string, notified: boolean): void {
    this.wakeups.wake(base);
    if (!notified) this.announcer.owe(base);
  }

  /** Runs `stmt` once the schema is ready (in the caller's transaction when `db` is given). */
  async run(stmt: Statement, values: unknown[], operation: string, db?: SqlClient): Promise<Row[]> {
    await this.ready();
    return run(this.pool, stmt, values, operation, db, this.#setup);
  }

  /**
   * Runs `fn` in one transaction on a connection of the pool: COMMIT when it resolves,
   * ROLLBACK when it throws. For an operation that takes more than one statement.
   */
  async transaction(operation: string, fn: (query: (stmt: Statement, values: unknown[]) => Promise<Row[]>) => Promise<void>): Promise<void> {
    await this.ready();
    const held = await checkout(this.pool, operation, this.#setup);
    const { client } = held;
    let failed: unknown;
    try {
      await client.query('BEGIN');
      await fn(async (stmt, values) => (await client.query({ name: stmt.name, text: stmt.text, values })).rows as Row[]);
      await client.query('COMMIT');
    } catch (error) {
      failed = error;
      await client.query('ROLLBACK').catch(() => undefined);
      throw toStoreError(error, operation);
    } finally {
      // a connection that failed mid-transaction is not handed back to the pool
      held.release(failed);
    }
  }
}

/**
 * Sent on each connection of a pool the store creates, before the store's first statement
 * there (docs/postgres.md, "Plans"): generic plans, so that its big prepared statements
 * are not planned again at every execution.
 */
export const SESSION_SETUP = "SELECT set_config('plan_cache_mode', 'force_generic_plan', false)";

const SCHEMA = /^[a-z_][a-z0-9_]{0,62}$/;

/** `value` as a schema name: a lowercase SQL identifier; a TypeError or RangeError naming `name` otherwise. */
export function schemaName(name: string, value: unknown): string {
  const expected = 'a lowercase SQL identifier (a letter or `_`, then letters, digits or `_`; at most 63)';
  if (typeof value !== 'string') throw check.typeError(name, expected, value);
  if (!SCHEMA.test(value)) throw new VisqRangeError(`Expected \`${name}\` to be ${expected}, got ${describe(value)}`);
  return value;
}

/**
 * A queue store in PostgreSQL: `new DataQueue(new PostgresStore({ connectionString }),
 * 'jobs')` behaves like a queue on Redis — same ids, leases, ordering, visibility
 * timeouts, attempts, dead letters, delays, ttl, stats and blocking reads — and its puts
 * and dones can join the caller's transaction (`putData(items, { db })`,
 * `doneData(leases, { db })`). See docs/postgres.md.
 *
 * Needs the `pg` package (an optional peer dependency of visq). The store creates its
 * schema on first use. `close()` ends blocking reads and the store's LISTEN connection,
 * and ends the pool only if the store created it, never a pool the caller passed in.
 * DataQueues never close a PostgresStore: whoever created it does.
 */
export class PostgresStore implements QueueStore, TaskStoreProvider {
  /** Puts and dones can run in the caller's transaction (the `db` option). */
  readonly transactional = true;
  /** The schema that holds the store's tables. */
  readonly schema: string;
  readonly #core: StoreCore;
  readonly #ownsPool: boolean;
  /** A new client for a connection of the store's own (LISTEN), named for its `role`. */
  readonly #client: (role: string) => ListenClient;

  /**
   * @param connection - `{ connectionString, ...pg.Pool options }` for a pool the store
   *   creates and ends in `close()`, or a `pg.Pool` the caller owns (never ended here).
   * @param options - see {@link PostgresStoreOptions}.
   * @throws TypeError / RangeError for a bad argument; VisqError when `pg` is not installed.
   */
  constructor(connection: PostgresConnectionOptions | PostgresPool, options?: PostgresStoreOptions) {
    const opts = check.options('options', options, ['schema', 'listenUrl']);
    if (opts.schema !== undefined) schemaName('options.schema', opts.schema);
    const listenUrl = opts.listenUrl === undefined ? undefined : check.text('options.listenUrl', opts.listenUrl, { maxLength: 4096 });
    this.schema = (opts.schema as string | undefined) ?? 'visq';
    const pg = loadPg();
    let pool: PostgresPool;
    let listenConfig: Record<string, unknown> | undefined;
    if (isPool(connection)) {
      pool = connection;
      this.#ownsPool = false;
      const poolOptions = (connection as { options?: unknown }).options;
      listenConfig = typeof poolOptions === 'object' && poolOptions !== null ? { ...poolOptions } : undefined;
    } else if (
      typeof connection === 'object' &&
      connection !== null &&
      typeof (connection as { connectionString?: unknown }).connectionString === 'string'
    ) {
      const owned = new pg.Pool({ ...connection });
      // pg reports errors of idle connections (a restarted server, a terminated backend)
      // on the pool, after dropping them; the next query opens a new connection, and an
      // 'error' event without a listener would end the process
      owned.on('error', () => undefined);
      // and every connection of its own keeps a listener of its own as well, whoever holds
      // it: pg's pool listens only while a connection is idle, checkout() while the store
      // holds one, and an 'error' that finds no listener ends the process (the chaos run
      // saw a terminated backend's FATAL reach one). Its failure still reaches the query
      // it cut, or the next one
      owned.on('connect', (client) => {
        client.on('error', () => undefined);
      });
      pool = owned;
      this.#ownsPool = true;
      listenConfig = { ...connection };
    } else {
      throw new VisqTypeError(
        `Expected \`connection\` to be a pg Pool or an object with a \`connectionString\`, got ${describe(connection)}`,
      );
    }
    if (listenUrl !== undefined) listenConfig = { connectionString: listenUrl };
    this.#client = (role) => {
      if (!listenConfig) {
        throw new VisqTypeError(
          'Blocking reads and task events need connection settings for their LISTEN connection: this pool has none (`pool.options`), so pass `options.listenUrl`',
        );
      }
      return new pg.Client(named(listenConfig, role));
    };
    // a pool of the store's own runs only its statements: it gets their settings
    const setup = this.#ownsPool ? { text: SESSION_SETUP, done: new WeakSet<object>() } : undefined;
    this.#core = new StoreCore(pool, this.schema, this, () => this.#client('listen'), setup);
  }

  /**
   * Creates or migrates the schema now, as the first operation would anyway: for setups
   * that need it in place first, such as triggers that call the SQL door `S.put`.
   */
  async ready(): Promise<void> {
    await this.#core.ready();
  }

  /** The backend of the queue whose key base is `base`; the same queue for the same base. */
  open(base: string): QueueBackend {
    return new PostgresQueueBackend(this.#core, toStored(base));
  }

  /** The task side of the store, for one Visq app (which closes it); its task events come on a LISTEN connection of its own. */
  taskStore(): TaskStore {
    return new PostgresTaskStore(this.#core, () => this.#client('events'));
  }

  async registerQueue(prefix: string, name: string): Promise<void> {
    this.#ensureOpen();
    const stmt = this.#core.statement('register', () => registerStatement(this.#core.quoted));
    await this.#core.run(stmt, [toStored(prefix), toStored(name)], 'registering a queue');
  }

  async forgetQueue(prefix: string, name: string): Promise<void> {
    this.#ensureOpen();
    const stmt = this.#core.statement('forget', () => forgetStatement(this.#core.quoted));
    await this.#core.run(stmt, [toStored(prefix), toStored(name)], 'forgetting a queue');
  }

  async queueNames(prefix: string): Promise<string[]> {
    this.#ensureOpen();
    const stmt = this.#core.statement('names', () => namesStatement(this.#core.quoted));
    const rows = await this.#core.run(stmt, [toStored(prefix)], 'listing queues');
    return rows.map((row) => fromStored(row.name as string)).sort();
  }

  /**
   * Resolves once the database has answered a query; rejects with a StoreError naming
   * the server (never its password) at the first failure or after `timeoutMs`.
   */
  async checkConnection(timeoutMs: number): Promise<void> {
    this.#ensureOpen();
    const where = describePool(this.#core.pool);
    const answered = this.#core.pool.query({ text: 'SELECT 1' }).then(
      () => 'ok' as const,
      (error: unknown) => error,
    );
    const outcome = await within(answered, timeoutMs);
    if (outcome === 'ok') return;
    const reason = outcome === TIMED_OUT ? `no answer within ${timeoutMs / 1000} s` : errorMessage(outcome);
    throw new StoreError(`Cannot connect to PostgreSQL at ${where}: ${reason}`, outcome === TIMED_OUT ? {} : { cause: outcome });
  }

  /**
   * Ends blocking reads (they return what there is), sends the wake-ups still owed,
   * closes the LISTEN connection, and ends the pool if the store created it. Later calls
   * reject with ClosedError.
   */
  async close(): Promise<void> {
    if (this.#core.closed) return;
    this.#core.closed = true;
    // the wake-ups still owed go out on the pool (not through run(), which a closed store refuses)
    await this.#core.announcer.close();
    await this.#core.wakeups.close();
    if (this.#ownsPool) await this.#core.pool.end();
  }

  #ensureOpen(): void {
    if (this.#core.closed) throw new ClosedError('PostgresStore');
  }

  /** @internal For tests: the store's shared state. */
  static coreOf(store: PostgresStore): StoreCore {
    return store.#core;
  }
}

/**
 * How many blocking reads of `store` are waiting (for tests that check a reader really
 * blocks). @internal Not exported from the package.
 */
export function pendingWaits(store: PostgresStore): number {
  return PostgresStore.coreOf(store).wakeups.pending;
}

/**
 * Connection settings for a connection of the store's own, named `<application_name>:<role>`
 * (default `visq:<role>`) so that it can be told apart in `pg_stat_activity`.
 */
export function named(config: Record<string, unknown>, role: string): Record<string, unknown> {
  const base = typeof config.application_name === 'string' && config.application_name !== '' ? config.application_name : 'visq';
  return { ...config, application_name: `${base}:${role}` };
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Where a pool connects, for messages: host, port and database, never the password. */
function describePool(pool: PostgresPool): string {
  const options = (pool as { options?: Record<string, unknown> }).options ?? {};
  const url = typeof options.connectionString === 'string' ? options.connectionString : undefined;
  if (url) {
    try {
      const parsed = new URL(url);
      if (parsed.password) parsed.password = '***';
      return parsed.toString();
    } catch {
      return 'the configured server';
    }
  }
  const host = typeof options.host === 'string' ? options.host : 'localhost';
  const port = typeof options.port === 'number' || typeof options.port === 'string' ? String(options.port) : '5432';
  const database = typeof options.database === 'string' ? `/${options.database}` : '';
  return `postgresql://${host}:${port}${database}`;
}
