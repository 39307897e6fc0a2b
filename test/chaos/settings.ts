/**
 * What every process of a chaos run agrees on: where the queues are and how they are
 * read. Readers of one queue must agree on attempts and useDead (they are stored with
 * each read), so the consumers and the checks take them from here.
 */

/** The data queue the producer fills and the consumer processes drain. */
export const DATA = {
  prefix: 'chaos',
  queue: 'items',
  visTimeout: 1,
  attempts: 3,
  /** Largest read batch of a consumer. */
  maxBatch: 40,
  /** Share of the items no consumer ever finishes: they must end as dead letters. */
  poison: 0.02,
  /** Chance that a consumer stalls past its lease before finishing a batch. */
  stall: 0.02,
} as const;

/** The task queue; two tasks share it, one retried under a lease and one at most once. */
export const TASKS = {
  prefix: 'chaos',
  queue: 'tasks',
  visTimeout: 1,
  attempts: 3,
  /** Share of the retried tasks that always fail: they end as dead letters (and give the failure kills their moment). */
  poison: 0.1,
  once: 0.1,
  concurrency: 8,
} as const;

/** The environment a chaos fixture process reads. */
export interface FixtureEnv {
  /** The kind of store under test. */
  readonly store: 'redis' | 'postgres';
  /** Where it is: the Redis, or the PostgreSQL database. */
  readonly url: string;
  /** The directory of the ledger files. */
  readonly ledgerDir: string;
  /** The process's name in the ledger, unique per process of the run. */
  readonly name: string;
  readonly seed: number;
}

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}

export function fixtureEnv(): FixtureEnv {
  return {
    store: required('CHAOS_STORE') === 'postgres' ? 'postgres' : 'redis',
    url: required('CHAOS_URL'),
    ledgerDir: required('CHAOS_LEDGER'),
    name: required('CHAOS_NAME'),
    seed: Number(required('CHAOS_SEED')),
  };
}

export function envFor(fixture: FixtureEnv): Record<string, string> {
  return {
    CHAOS_STORE: fixture.store,
    CHAOS_URL: fixture.url,
    CHAOS_LEDGER: fixture.ledgerDir,
    CHAOS_NAME: fixture.name,
    CHAOS_SEED: String(fixture.seed),
  };
}

/** A small seeded PRNG (mulberry32), so that a run repeats from its seed as far as timing allows. */
export function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
