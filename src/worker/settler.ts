/**
 * Gathers the settle ops of a worker's runs (starts, dones with results, retries,
 * failures, hand-backs) and sends them as one store call per batch and queue: a group
 * commit. A call goes out as soon as fewer than MAX_IN_FLIGHT calls of the queue are
 * under way, with every op that arrived meanwhile, so a busy worker sends big batches and
 * an idle one waits for nothing. Several calls in flight let the worker handle one reply
 * while the store runs the next call.
 *
 * A call the store fails is sent again, op by op as they were, with back-off, for up to
 * a minute (settleRetry.budgetMs); then its ops are given up, the worker lets their leases
 * go, and their deliveries come back after their leases as at-least-once delivery allows.
 */
import { VisqError } from '../errors.js';
import { sleep } from '../sleep.js';
import type { SettleOp, SettleOutcome, TaskSpec, TaskStore } from '../tasks/task-store.js';

/** Settle calls of one queue under way at once. */
export const MAX_IN_FLIGHT = 2;
/** Ops one call carries at most. */
export const MAX_OPS_PER_CALL = 500;
/**
 * How long a failing call is retried before its ops are given up, ms. Test hook: a test
 * shortens `settleRetry.budgetMs` to see a give-up without waiting a minute, and puts it
 * back; nothing else changes it, and it is not exported from the package.
 */
export const settleRetry = { budgetMs: 60_000 };
const BACKOFF_MIN_MS = 100;
const BACKOFF_MAX_MS = 5000;

/** Called once with an op's outcome, or with the error that made the settler give it up. */
export type SettleCallback = (outcome: SettleOutcome | undefined, error?: unknown) => void;

interface Pending {
  readonly op: SettleOp;
  readonly done: SettleCallback;
}

/** The settle batches of one task queue. */
export class Settler {
  readonly #tasks: TaskStore;
  readonly #base: string;
  readonly #specs: () => readonly TaskSpec[];
  readonly #report: (error: unknown) => void;
  #pending: Pending[] = [];
  #inFlight = 0;
  #scheduled = false;
  /** Resolves when nothing is pending or in flight. */
  #idle: Promise<void> | undefined;
  #resolveIdle: (() => void) | undefined;

  constructor(tasks: TaskStore, base: string, specs: () => readonly TaskSpec[], report: (error: unknown) => void) {
    this.#tasks = tasks;
    this.#base = base;
    this.#specs = specs;
    this.#report = report;
  }

  /**
   * Queues `op` for the next call; `done` gets its outcome once the store applied it (a
   * callback, not a promise: a busy worker submits two ops per task).
   */
  submit(op: SettleOp, done: SettleCallback): void {
    this.#pending.push({ op, done });
    this.#schedule();
  }

  /** Resolves once every op submitted so far has been sent and answered (or given up). */
  drained(): Promise<void> {
    if (this.#pending.length === 0 && this.#inFlight === 0) return Promise.resolve();
    this.#idle ??= new Promise((resolve) => {
      this.#resolveIdle = resolve;
    });
    return this.#idle;
  }

  #schedule(): void {
    if (this.#scheduled || this.#inFlight >= MAX_IN_FLIGHT || this.#pending.length === 0) return;
    this.#scheduled = true;
    // once the code that submitted finishes: the ops of runs that end together (in one
    // reply's callback, say) go out together, without waiting for another turn of the
    // event loop (a poll of the sockets: a system call, for every call sent)
    queueMicrotask(() => {
      this.#scheduled = false;
      this.#send();
    });
  }

  #send(): void {
    while (this.#inFlight < MAX_IN_FLIGHT && this.#pending.length > 0) {
      const batch = this.#pending.splice(0, MAX_OPS_PER_CALL);
      this.#inFlight += 1;
      void this.#call(batch).finally(() => {
        this.#inFlight -= 1;
        if (this.#pending.length > 0) this.#schedule();
        else if (this.#inFlight === 0) this.#settleIdle();
      });
    }
  }

  async #call(batch: Pending[]): Promise<void> {
    const started = performance.now();
    let backoff = BACKOFF_MIN_MS;
    for (;;) {
      try {
        const outcomes = await this.#tasks.settle(
          this.#base,
          batch.map((p) => p.op),
          this.#specs(),
        );
        for (let i = 0; i < batch.length; i += 1) this.#tell(batch[i] as Pending, outcomes[i] as SettleOutcome);
        return;
      } catch (error) {
        const budgetMs = settleRetry.budgetMs;
        if (performance.now() - started > budgetMs) {
          const gaveUp = new VisqError(`Gave up settling ${batch.length} task run(s) after ${budgetMs / 1000} s`, 'ERR_VISQ_STORE', {
            cause: error,
          });
          for (const p of batch) this.#tell(p, undefined, gaveUp);
          return;
        }
        this.#report(error);
        await sleep(backoff);
        backoff = Math.min(BACKOFF_MAX_MS, backoff * 2);
      }
    }
  }

  /** Calls an op's callback; one that throws is reported, and the others still hear. */
  #tell(pending: Pending, outcome: SettleOutcome | undefined, error?: unknown): void {
    try {
      pending.done(outcome, error);
    } catch (thrown) {
      this.#report(thrown);
    }
  }

  #settleIdle(): void {
    const resolve = this.#resolveIdle;
    this.#idle = undefined;
    this.#resolveIdle = undefined;
    resolve?.();
  }
}
