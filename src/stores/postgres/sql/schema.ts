/**
 * The PostgresStore's schema, as numbered migrations. The store applies the ones a
 * database lacks on first use, in one transaction under an advisory lock (see
 * migrate.ts), and records each in `<schema>.migrations`. A migration is never edited
 * once released: a change is a new migration, so that every database reaches the same
 * schema by the same steps. Statements live in the client (sql/*.ts), not in stored
 * functions, so that processes of two visq versions never run each other's SQL; the one
 * stored function is the SQL door `put`, whose signature is part of the contract.
 *
 * Layout (`S` = the schema, 'visq' by default):
 *   S.items     every item of every queue: ready, delayed or in flight
 *   S.dead      dead letters, the same columns (a dead-letter queue is a full queue)
 *   S.totals    running totals, one row per queue and server process (see lib.ts count)
 *   S.registry  the queues listQueues() names, per prefix
 *   S.ids       the seqs that order items within a priority (an item put by putData has
 *               its seq's decimal text as its id)
 *   S.leases    lease tokens: one per read batch
 * (migration 3 adds `meta` to items and dead: the item's metadata, '' for none)
 * and for the task layer (migration 2, see sql/tasks/lib.ts):
 *   S.tasks          a task's status record (and saved result), by task queue and task id
 *   S.task_metrics   task metrics, one row per queue, server process and field
 *   S.task_failures  the latest failed runs per task queue
 *   S.schedules      the next due time of each periodic or cron task
 *   S.claims         claim tokens: a claim sent again returns what it claimed
 * and for limits (migration 4, see sql/limits.ts):
 *   S.limits         per queue: its rate limit bucket, pause and slot-waiter flag
 * and for deduplicated puts (migration 5, see sql/dedupe.ts):
 *   S.dedupe         dedupe keys and their holders, by queue and key
 * Times are ms since the epoch (bigint), from the database clock.
 */

import { dedupeMigration } from './dedupe.js';
import { groupsMigration } from './groups.js';
import { limitsTable } from './limits.js';

/** One step of the schema. */
export interface Migration {
  readonly version: number;
  /** The DDL, for schema `schema` (an identifier already quoted). */
  readonly sql: (schema: string) => string;
}

/** The columns and indexes of an item table (items and dead share them). */
function itemTable(schema: string, table: string): string {
  const t = `${schema}.${table}`;
  return `
CREATE TABLE ${t} (
  queue      text COLLATE "C" NOT NULL, -- the queue's key base, {prefix:name}[:dead]
  id         bigint   NOT NULL,         -- the item id, from S.ids; kept across dead letters and redrive
  seq        bigint   NOT NULL,         -- order within a priority: from S.ids on entering this queue
  priority   smallint NOT NULL,
  due_at     bigint,                    -- null: visible; else delayed until, or the lease deadline
  expires_at bigint,                    -- visible with a ttl: dropped from then on; null otherwise
  ttl        integer  NOT NULL,         -- ms an item may stay visible unread; 0 = no limit
  failed     integer  NOT NULL,         -- deliveries that ended without done
  lease      bigint,                    -- token of the current delivery; null unless in flight
  attempts   integer,                   -- in flight: the reader's attempts ...
  use_dead   boolean,                   -- ... and dead-letter setting, which decide an expiry
  entered_at bigint   NOT NULL,         -- when it entered this queue (put, dead letter, redrive)
  payload    text     NOT NULL,         -- the item's JSON, as written
  PRIMARY KEY (queue, id)
) WITH (
  -- a queue table churns: every item is inserted, updated once per delivery and deleted,
  -- so vacuum early and keep room for the new row versions on their page
  fillfactor = 90,
  autovacuum_vacuum_scale_factor = 0.02,
  autovacuum_vacuum_insert_scale_factor = 0.05,
  autovacuum_analyze_scale_factor = 0.05,
  autovacuum_vacuum_cost_delay = 0
);
-- what a read takes: visible items in delivery order
CREATE INDEX ${table}_ready ON ${t} (queue, priority DESC, seq) WHERE due_at IS NULL;
-- what comes due: delays ending, leases ending
CREATE INDEX ${table}_due ON ${t} (queue, due_at) WHERE due_at IS NOT NULL;
-- visible items with a ttl
CREATE INDEX ${table}_expiry ON ${t} (queue, expires_at) WHERE expires_at IS NOT NULL;`;
}

/** Every migration, in order. */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    sql: (s) => `
CREATE SEQUENCE ${s}.ids AS bigint;
CREATE SEQUENCE ${s}.leases AS bigint;
${itemTable(s, 'items')}
${itemTable(s, 'dead')}
CREATE TABLE ${s}.totals (
  queue         text COLLATE "C" NOT NULL,
  pid           integer NOT NULL, -- the server process that counted; 0 for folded rows
  puts          bigint NOT NULL DEFAULT 0,
  deliveries    bigint NOT NULL DEFAULT 0,
  dones         bigint NOT NULL DEFAULT 0,
  expiries      bigint NOT NULL DEFAULT 0,
  dead_lettered bigint NOT NULL DEFAULT 0,
  dropped       bigint NOT NULL DEFAULT 0,
  expired       bigint NOT NULL DEFAULT 0,
  empty_reads   bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (queue, pid)
) WITH (fillfactor = 50, autovacuum_vacuum_scale_factor = 0.02);
CREATE TABLE ${s}.registry (
  prefix text COLLATE "C" NOT NULL,
  name   text COLLATE "C" NOT NULL,
  PRIMARY KEY (prefix, name)
);
${sqlDoor(s)}`,
  },
  {
    // the task layer: a task is an item whose id is its task id (a UUID the caller gives),
    // beside a status record
    version: 2,
    sql: (s) => `
ALTER TABLE ${s}.items ALTER COLUMN id TYPE text COLLATE "C" USING id::text;
ALTER TABLE ${s}.dead ALTER COLUMN id TYPE text COLLATE "C" USING id::text;
CREATE TABLE ${s}.tasks (
  queue        text COLLATE "C" NOT NULL, -- the task queue's key base, {prefix:name}
  id           text COLLATE "C" NOT NULL, -- the task id, its item's id too
  task         text    NOT NULL,          -- the task's registered name
  state        text    NOT NULL,          -- queued, delayed, started, done, failed, cancelled
  attempt      integer NOT NULL,          -- runs started
  at           bigint  NOT NULL,          -- the last change
  run_lease    bigint,                    -- started: the lease token of the delivery that started the run
  error        text,                      -- the last failure's message
  result       text,                      -- done: the saved result's JSON
  result_until bigint,                    -- ... kept until then
  keep_ms      bigint,                    -- cancelled, its item not yet discarded: how long to keep the record after
  expires_at   bigint,                    -- final: the record is gone from then on
  PRIMARY KEY (queue, id)
) WITH (
  fillfactor = 80,
  autovacuum_vacuum_scale_factor = 0.02,
  autovacuum_vacuum_insert_scale_factor = 0.05,
  autovacuum_analyze_scale_factor = 0.05,
  autovacuum_vacuum_cost_delay = 0
);
CREATE INDEX tasks_expiry ON ${s}.tasks (queue, expires_at) WHERE expires_at IS NOT NULL;
CREATE TABLE ${s}.task_metrics (
  queue text COLLATE "C" NOT NULL,
  pid   integer NOT NULL,          -- the server process that counted; 0 for folded rows
  field text COLLATE "C" NOT NULL, -- "<task>|started", "<task>|le|100", ... (tasks/metrics.ts)
  value bigint  NOT NULL,
  PRIMARY KEY (queue, pid, field)
) WITH (fillfactor = 50, autovacuum_vacuum_scale_factor = 0.02);
CREATE TABLE ${s}.task_failures (
  queue   text COLLATE "C" NOT NULL,
  seq     bigint  NOT NULL, -- from S.ids: newest last
  task_id text    NOT NULL,
  task    text    NOT NULL,
  error   text    NOT NULL,
  attempt integer NOT NULL,
  final   boolean NOT NULL,
  at      bigint  NOT NULL,
  PRIMARY KEY (queue, seq)
);
CREATE TABLE ${s}.schedules (
  queue text COLLATE "C" NOT NULL,
  name  text COLLATE "C" NOT NULL,
  due   bigint NOT NULL,
  PRIMARY KEY (queue, name)
);
CREATE TABLE ${s}.claims (
  queue text COLLATE "C" NOT NULL,
  token text COLLATE "C" NOT NULL, -- the claim's token, from the worker
  lease bigint NOT NULL,           -- the lease token of the items it claimed
  until bigint NOT NULL,           -- kept until then
  PRIMARY KEY (queue, token)
);
CREATE INDEX claims_until ON ${s}.claims (queue, until);`,
  },
  {
    // item metadata (data/backend.ts ItemMeta: the W3C trace context of the item's put),
    // kept with the item through retries, dead letters and redrive. A constant default
    // is only recorded in the catalog: no table rewrite, existing rows read as ''.
    version: 3,
    sql: (s) => `
ALTER TABLE ${s}.items ADD COLUMN meta text NOT NULL DEFAULT '';
ALTER TABLE ${s}.dead ADD COLUMN meta text NOT NULL DEFAULT '';`,
  },
  {
    // rate limits, in-flight caps and pauses (sql/limits.ts)
    version: 4,
    sql: (s) => limitsTable(s),
  },
  // deduplicated puts: the dedupe keys (sql/dedupe.ts)
  { version: 5, sql: dedupeMigration },
  // ordered groups: group columns, turns and settings (sql/groups.ts)
  { version: 6, sql: groupsMigration },
];

/** The version a database has once every migration here ran. */
export const SCHEMA_VERSION = MIGRATIONS.length;

/** The wake-up channel of schema `schema` (unquoted), as NOTIFY and LISTEN name it. */
export function channelOf(schema: string): string {
  return `${schema}:wake`;
}

/** The SQL literal of a string (for names fixed by the store, never for user data). */
export function literal(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}

/**
 * The SQL door: `SELECT S.put(queue, payload, delay_seconds)` puts one item into the
 * queue `new DataQueue(store, queue)` reads (prefix 'visq') and returns its id. It runs
 * in the caller's transaction (a trigger's, say): the item is invisible until COMMIT and
 * gone with a ROLLBACK, and readers are woken on COMMIT. Bad input raises
 * invalid_parameter_value (22023), and nothing is written.
 */
function sqlDoor(s: string): string {
  const unquoted = s.slice(1, -1).replace(/""/g, '"');
  return `
CREATE FUNCTION ${s}.put(queue text, payload jsonb, delay_seconds float8 DEFAULT 0) RETURNS text
LANGUAGE plpgsql VOLATILE AS $door$
#variable_conflict use_column
DECLARE
  base    text;
  now_ms  bigint := floor(extract(epoch FROM statement_timestamp()) * 1000);
  delay_ms bigint;
  item    bigint;
BEGIN
  IF put.queue IS NULL OR length(put.queue) NOT BETWEEN 1 AND 256 OR strpos(put.queue, '}') > 0 THEN
    RAISE EXCEPTION 'visq.put: expected queue to be a name of 1 to 256 characters without "}", got %',
      coalesce(quote_literal(put.queue), 'NULL') USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF put.payload IS NULL THEN
    RAISE EXCEPTION 'visq.put: expected payload to be a JSON value, got NULL (use ''null''::jsonb for JSON null)'
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF delay_seconds IS NULL OR delay_seconds = 'NaN' OR delay_seconds < 0 OR delay_seconds > 1e9 THEN
    RAISE EXCEPTION 'visq.put: expected delay_seconds to be a number of seconds from 0 to 1000000000, got %',
      coalesce(delay_seconds::text, 'NULL') USING ERRCODE = 'invalid_parameter_value';
  END IF;
  -- names are stored with \ escaped as \\ (src/stores/postgres/names.ts)
  base := '{visq:' || replace(put.queue, '\\', '\\\\') || '}';
  delay_ms := ceil(delay_seconds * 1000);
  item := nextval('${s.replace(/'/g, "''")}.ids');
  INSERT INTO ${s}.items (queue, id, seq, priority, due_at, ttl, failed, entered_at, payload)
  VALUES (base, item, item, 0, CASE WHEN delay_ms > 0 THEN now_ms + delay_ms END, 0, 0, now_ms, put.payload::text);
  INSERT INTO ${s}.totals AS t (queue, pid, puts) VALUES (base, pg_backend_pid(), 1)
  ON CONFLICT (queue, pid) DO UPDATE SET puts = t.puts + 1;
  INSERT INTO ${s}.registry (prefix, name) VALUES ('visq', replace(put.queue, '\\', '\\\\')) ON CONFLICT DO NOTHING;
  IF delay_ms = 0 THEN
    -- delivered on COMMIT; PostgreSQL folds repeats within one transaction into one
    PERFORM pg_notify(${literal(channelOf(unquoted))}, base);
  END IF;
  RETURN item::text;
END
$door$;`;
}
