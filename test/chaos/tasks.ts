/**
 * The tasks of a chaos run, registered alike by the worker processes (which run them
 * and write what they do to their ledger) and by the producer (which only executes them).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { taskContext, type Task, type Visq } from '../../src/index.js';
import type { ChaosTaskArgs } from './ledger.js';
import { TASKS } from './settings.js';

/** What a worker process records of each run. */
export interface RunLog {
  started(taskId: string, attempt: number, k: string): void;
  finished(taskId: string, attempt: number): void;
  /** The run is about to throw: its failure is settled next (`last`: it fails the task for good). */
  failing?(taskId: string, attempt: number, last: boolean): void;
}

export interface ChaosTasks {
  /** Retried under a lease: TASKS.attempts runs, dead letters. */
  readonly retried: Task<ChaosTaskArgs, string>;
  /** At most once: never runs twice, whatever happens to its worker. */
  readonly once: Task<ChaosTaskArgs, string>;
}

export function registerChaosTasks(app: Visq, log?: RunLog): ChaosTasks {
  const run = async (k: string, poison: boolean, ms: number): Promise<string> => {
    const context = taskContext();
    if (!context) throw new Error('a chaos task ran outside a worker');
    log?.started(context.taskId, context.attempt, k);
    await sleep(ms);
    if (poison) {
      log?.failing?.(context.taskId, context.attempt, context.attempt === context.attempts);
      throw new Error(`${k} is poison`);
    }
    log?.finished(context.taskId, context.attempt);
    return k;
  };
  return {
    retried: app.task('chaos', run, {
      queue: TASKS.queue,
      attempts: TASKS.attempts,
      visTimeout: TASKS.visTimeout,
      useDead: true,
    }),
    once: app.task('chaos-once', run, { queue: TASKS.queue }),
  };
}
