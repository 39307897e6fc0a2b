/**
 * Vitest global setup: with the postgres store selected, starts one private PostgreSQL
 * server for the whole run (or takes `VISQ_PG_URL`) and hands its address to the test
 * files (`inject('visqPostgres')`). Each file creates a database of its own on it
 * (postgres-server.ts createDatabase), so files stay apart while sharing one server,
 * which takes about a second to start. Without the postgres store it does nothing.
 */
import type { TestProject } from 'vitest/node';
import { startPostgresServer, type PostgresAddress } from './postgres-server.js';
import { selectedKind } from './store-kind.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The run's PostgreSQL server; absent unless the postgres store is selected. */
    visqPostgres?: PostgresAddress;
  }
}

export default async function setup(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  if (selectedKind() !== 'postgres') return undefined;
  const url = process.env.VISQ_PG_URL;
  if (url) {
    project.provide('visqPostgres', { url });
    return undefined;
  }
  const started = performance.now();
  const server = await startPostgresServer();
  const ms = Math.round(performance.now() - started);
  process.stderr.write(`visq tests: PostgreSQL on port ${server.port} started in ${ms} ms\n`);
  project.provide('visqPostgres', { url: server.url });
  return () => server.stop();
}
