/**
 * The disruptions of a chaos run, one at a time: SIGKILL of a consumer or a worker (then
 * started again), a worker killing itself around the settle of a failed run (armed with
 * SIGUSR2: fixtures/task-worker.ts), Redis restarted from its AOF after SIGTERM or
 * SIGKILL, the script cache flushed, every client connection dropped, Redis full for a
 * moment. Slot 0 of the consumers and of the workers is never killed.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import type { RedisServer } from '../harness/redis-server.js';
import type { FixtureSlot } from './processes.js';

export type Disruption =
  | 'kill-consumer'
  | 'kill-worker'
  | 'kill-worker-at-failure'
  | 'restart-redis'
  | 'crash-redis'
  | 'flush-scripts'
  | 'client-kill'
  | 'full';

/** What was done to the run. */
export interface ChaosFigures {
  consumerKills: number;
  workerKills: number;
  /** Workers armed to kill themselves around the settle of their next failed run, and those that did. */
  failureKillsArmed: number;
  failureKills: number;
  /** Of those, around a run that failed the task for good (its record and its dead letter). */
  finalFailureKills: number;
  /** Scripts sent twice on purpose (resend.ts): the producer's executes, the workers' claims and settles. */
  resentEnqueues: number;
  resentClaims: number;
  resentSettles: number;
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

function pick<T>(list: readonly T[], next: () => number): T {
  return list[Math.floor(next() * list.length)] as T;
}

/** Every disruption once or twice (`required` of them), then at random, weighted toward the common ones. */
export function plan(next: () => number): { next: () => Disruption; required: number } {
  const required: Disruption[] = [
    'kill-consumer',
    'kill-consumer',
    'kill-worker',
    'kill-worker',
    'kill-worker-at-failure',
    'kill-worker-at-failure',
    'client-kill',
    'client-kill',
    'restart-redis',
    'crash-redis',
    'flush-scripts',
    'full',
  ];
  for (let i = required.length - 1; i > 0; i -= 1) {
    const j = Math.floor(next() * (i + 1));
    [required[i], required[j]] = [required[j] as Disruption, required[i] as Disruption];
  }
  const weighted: Disruption[] = [
    ...Array<Disruption>(4).fill('kill-consumer'),
    ...Array<Disruption>(3).fill('kill-worker'),
    ...Array<Disruption>(2).fill('kill-worker-at-failure'),
    ...Array<Disruption>(3).fill('client-kill'),
    'restart-redis',
    'crash-redis',
    'flush-scripts',
    'full',
  ];
  return { next: () => required.shift() ?? pick(weighted, next), required: required.length };
}

/** Carries out disruptions on a run's Redis and processes, counting them in `figures`. */
export class Disruptor {
  readonly figures: ChaosFigures = {
    consumerKills: 0,
    workerKills: 0,
    failureKillsArmed: 0,
    failureKills: 0,
    finalFailureKills: 0,
    resentEnqueues: 0,
    resentClaims: 0,
    resentSettles: 0,
    redisRestarts: 0,
    redisCrashes: 0,
    scriptFlushes: 0,
    clientKills: 0,
    clientsDropped: 0,
    blockedDropped: 0,
    fullEpisodes: 0,
    evalFallbacks: 0,
  };
  readonly #server: RedisServer;
  readonly #admin: Redis;
  readonly #consumers: readonly FixtureSlot[];
  readonly #workers: readonly FixtureSlot[];
  readonly #next: () => number;
  /** Makes runs fail soon (executes poison tasks), for a worker armed to die around one. */
  readonly #failSoon: () => Promise<void>;
  readonly #respawns: Promise<void>[] = [];
  readonly #failures: string[] = [];

  constructor(
    server: RedisServer,
    admin: Redis,
    slots: { consumers: readonly FixtureSlot[]; workers: readonly FixtureSlot[] },
    next: () => number,
    failSoon: () => Promise<void>,
  ) {
    this.#server = server;
    this.#admin = admin;
    this.#consumers = slots.consumers;
    this.#workers = slots.workers;
    this.#next = next;
    this.#failSoon = failSoon;
  }

  async run(what: Disruption): Promise<void> {
    const f = this.figures;
    switch (what) {
      case 'kill-consumer':
        await this.#kill(this.#consumers);
        f.consumerKills += 1;
        return;
      case 'kill-worker':
        await this.#kill(this.#workers);
        f.workerKills += 1;
        return;
      case 'kill-worker-at-failure':
        await this.#killAtFailure();
        f.failureKillsArmed += 1;
        return;
      case 'restart-redis':
        await this.#restartRedis('SIGTERM');
        f.redisRestarts += 1;
        return;
      case 'crash-redis':
        await this.#restartRedis('SIGKILL');
        f.redisCrashes += 1;
        return;
      case 'flush-scripts':
        await this.#admin.script('FLUSH');
        f.scriptFlushes += 1;
        return;
      case 'client-kill': {
        const clients = String(await this.#admin.client('LIST'));
        f.blockedDropped += clients.split('\n').filter((line) => / flags=\S*b/.test(line)).length;
        f.clientsDropped += Number(await this.#admin.client('KILL', 'TYPE', 'normal', 'SKIPME', 'yes'));
        f.clientKills += 1;
        return;
      }
      case 'full':
        await this.#admin.config('SET', 'maxmemory', '1');
        await sleep(300 + Math.floor(this.#next() * 400));
        await this.#admin.config('SET', 'maxmemory', '0');
        f.fullEpisodes += 1;
        return;
    }
  }

  /** Resolves once every killed process has started again; lists those that could not. */
  async restarted(): Promise<string[]> {
    await Promise.allSettled(this.#respawns);
    return this.#failures;
  }

  /** Adds the EVAL calls of the current Redis process to the figures. */
  async countEvalFallbacks(): Promise<void> {
    this.figures.evalFallbacks += await evalCalls(this.#admin);
  }

  async #kill(slots: readonly FixtureSlot[]): Promise<void> {
    const slot = pick(slots.slice(1), this.#next);
    await slot.kill();
    this.#respawn(slot);
  }

  /**
   * Arms a worker to kill itself around the settle of a failed run, has some runs fail
   * (poison tasks), and waits a while for it to do so; one that did not is killed all the
   * same. Either way it starts again.
   */
  async #killAtFailure(): Promise<void> {
    const slot = pick(this.#workers.slice(1), this.#next);
    await slot.signal('SIGUSR2');
    await this.#failSoon();
    if (!(await slot.exitsWithin(3000))) await slot.kill();
    this.#respawn(slot);
  }

  #respawn(slot: FixtureSlot): void {
    this.#respawns.push(
      slot
        .startLater(Math.floor(this.#next() * 200))
        .catch((error: unknown) => void this.#failures.push(`${slot.name} could not start again: ${String(error)}`)),
    );
  }

  async #restartRedis(signal: NodeJS.Signals): Promise<void> {
    // a restarted Redis starts its command stats from zero
    await this.countEvalFallbacks();
    if (signal === 'SIGKILL') await quiesceAof(this.#admin);
    await this.#server.kill(signal);
    await this.#server.restart();
  }
}
