/**
 * The disruptions of a chaos run, one at a time: SIGKILL of a consumer or a worker (then
 * started again), a worker killing itself around the settle of a failed run (armed with
 * SIGUSR2: fixtures/task-worker.ts), and the disruptions of the run's server (servers.ts): for Redis,
 * restarts from its AOF after SIGTERM or SIGKILL, the script cache flushed, every client
 * connection dropped, Redis full for a moment; for PostgreSQL, its client connections
 * terminated, clean restarts and crashes. Slot 0 of the consumers and of the workers is
 * never killed.
 */
import type { FixtureSlot } from './processes.js';
import { noServerFigures, type ChaosServer, type ServerDisruption, type ServerFigures } from './servers.js';

export type Disruption = 'kill-consumer' | 'kill-worker' | 'kill-worker-at-failure' | ServerDisruption;

/** What was done to the run. */
export interface ChaosFigures extends ServerFigures {
  consumerKills: number;
  workerKills: number;
  /** Workers armed to kill themselves around the settle of their next failed run, and those that did. */
  failureKillsArmed: number;
  failureKills: number;
  /** Of those, around a run that failed the task for good (its record and its dead letter). */
  finalFailureKills: number;
  /** Scripts sent twice on purpose (resend.ts, Redis only): the producer's executes, the workers' claims and settles. */
  resentEnqueues: number;
  resentClaims: number;
  resentSettles: number;
}

function pick<T>(list: readonly T[], next: () => number): T {
  return list[Math.floor(next() * list.length)] as T;
}

/**
 * Every disruption of the processes and of `server` once or twice (`required` of them,
 * shuffled), then at random, weighted toward the common ones.
 */
export function plan(next: () => number, server: ChaosServer): { next: () => Disruption; required: number } {
  const faults: { name: Disruption; required: number; weight: number }[] = [
    { name: 'kill-consumer', required: 2, weight: 4 },
    { name: 'kill-worker', required: 2, weight: 3 },
    { name: 'kill-worker-at-failure', required: 2, weight: 2 },
    ...server.faults,
  ];
  const required = faults.flatMap(({ name, required: n }) => Array<Disruption>(n).fill(name));
  for (let i = required.length - 1; i > 0; i -= 1) {
    const j = Math.floor(next() * (i + 1));
    [required[i], required[j]] = [required[j] as Disruption, required[i] as Disruption];
  }
  const weighted = faults.flatMap(({ name, weight }) => Array<Disruption>(weight).fill(name));
  return { next: () => required.shift() ?? pick(weighted, next), required: required.length };
}

/** Carries out disruptions on a run's server and processes, counting them in `figures`. */
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
    ...noServerFigures(),
  };
  readonly #server: ChaosServer;
  readonly #consumers: readonly FixtureSlot[];
  readonly #workers: readonly FixtureSlot[];
  readonly #next: () => number;
  readonly #respawns: Promise<void>[] = [];
  readonly #failures: string[] = [];
  /** Makes runs fail soon (executes poison tasks), for a worker armed to die around one. */
  readonly #failSoon: () => Promise<void>;

  constructor(
    server: ChaosServer,
    slots: { consumers: readonly FixtureSlot[]; workers: readonly FixtureSlot[] },
    next: () => number,
    failSoon: () => Promise<void>,
  ) {
    this.#server = server;
    this.#consumers = slots.consumers;
    this.#workers = slots.workers;
    this.#next = next;
    this.#failSoon = failSoon;
  }

  async run(what: Disruption): Promise<void> {
    if (what === 'kill-consumer') {
      await this.#kill(this.#consumers);
      this.figures.consumerKills += 1;
    } else if (what === 'kill-worker') {
      await this.#kill(this.#workers);
      this.figures.workerKills += 1;
    } else if (what === 'kill-worker-at-failure') {
      await this.#killAtFailure();
      this.figures.failureKillsArmed += 1;
    } else {
      await this.#server.run(what, this.figures, this.#next);
    }
  }

  /** Resolves once every killed process has started again; lists those that could not. */
  async restarted(): Promise<string[]> {
    await Promise.allSettled(this.#respawns);
    return this.#failures;
  }

  /** Adds what only the server counts (Redis: EVAL fallbacks) to the figures. */
  async finish(): Promise<void> {
    await this.#server.finish(this.figures);
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
}
