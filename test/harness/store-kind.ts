/**
 * Which store the shared suites run against, from the environment: `VISQ_TEST_STORE` =
 * `redis` (default, a private redis-server per file), `memory` (a MemoryStore per file),
 * `cluster` (a private Redis Cluster) or `postgres` (a PostgresStore on a database of its
 * own per file, on the run's private PostgreSQL server or on `VISQ_PG_URL`). `VISQ_TEST_TOPOLOGY=cluster` is an alias for
 * `VISQ_TEST_STORE=cluster`. Read by the vitest config and global setup as well as by
 * the test context, so it imports nothing from vitest.
 */

/** The kinds of store a suite can run against. */
export type StoreKind = 'redis' | 'memory' | 'cluster' | 'postgres';

const KINDS: readonly StoreKind[] = ['redis', 'memory', 'cluster', 'postgres'];

function isKind(value: string): value is StoreKind {
  return (KINDS as readonly string[]).includes(value);
}

export function selectedKind(env: NodeJS.ProcessEnv = process.env): StoreKind {
  const store = env.VISQ_TEST_STORE;
  const topology = env.VISQ_TEST_TOPOLOGY;
  if (store !== undefined && !isKind(store)) {
    throw new Error(`VISQ_TEST_STORE=${store} is not a known store (${KINDS.join(', ')})`);
  }
  if (topology !== undefined && topology !== 'cluster') {
    throw new Error(`VISQ_TEST_TOPOLOGY=${topology} is not a known topology (cluster)`);
  }
  if (topology === 'cluster' && store !== undefined && store !== 'cluster') {
    throw new Error(`VISQ_TEST_TOPOLOGY=cluster contradicts VISQ_TEST_STORE=${store}`);
  }
  return topology === 'cluster' ? 'cluster' : (store ?? 'redis');
}

/** Whether `kind` is Redis (one server or a Cluster), whose keys and commands a test may inspect. */
export function isRedisKind(kind: StoreKind): boolean {
  return kind === 'redis' || kind === 'cluster';
}
