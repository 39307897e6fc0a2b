/**
 * Brings a database's visq schema up to the version this package knows, on the store's
 * first use. Idempotent and safe to race: processes starting together serialise on a
 * transaction-level advisory lock, and each migration runs once, in the same transaction
 * as the row that records it. A database already at this version (or newer: a later visq
 * deployed beside this one) is only read, so a role without DDL rights can use a schema
 * that an owner created.
 */
import { VisqError } from '../../errors.js';
import { checkout, toStoreError, type PostgresPool, type PostgresPoolClient } from './connection.js';
import { literal, MIGRATIONS, SCHEMA_VERSION } from './sql/schema.js';

/** First key of the advisory lock ('visq' in ASCII); the second is the schema's hash. */
const LOCK_CLASS = 0x76697371;

export async function migrate(pool: PostgresPool, schema: string, quoted: string): Promise<void> {
  const held = await checkout(pool, 'connecting');
  const { client } = held;
  let failed: unknown;
  try {
    if ((await versionOf(client, quoted)) >= SCHEMA_VERSION) return;
    await client.query('BEGIN');
    try {
      await client.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [LOCK_CLASS, schema]);
      await client.query(`CREATE SCHEMA IF NOT EXISTS ${quoted}`);
      await client.query(
        `CREATE TABLE IF NOT EXISTS ${quoted}.migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`,
      );
      const current = await versionOf(client, quoted);
      for (const migration of MIGRATIONS) {
        if (migration.version <= current) continue;
        await client.query(migration.sql(quoted));
        await client.query(`INSERT INTO ${quoted}.migrations (version) VALUES ($1)`, [migration.version]);
      }
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    }
  } catch (error) {
    failed = error;
    throw error instanceof VisqError ? error : toStoreError(error, `creating or migrating the schema ${quoted}`);
  } finally {
    // a connection that failed mid-transaction is not handed back to the pool
    held.release(failed);
  }
}

/** The schema's version: 0 when it does not exist yet. */
async function versionOf(client: PostgresPoolClient, quoted: string): Promise<number> {
  const exists = await client.query(`SELECT to_regclass(${literal(`${quoted}.migrations`)}) IS NOT NULL AS present`);
  if (!(exists.rows[0] as { present: boolean }).present) return 0;
  const { rows } = await client.query(`SELECT coalesce(max(version), 0) AS version FROM ${quoted}.migrations`);
  return Number((rows[0] as { version: number }).version);
}
