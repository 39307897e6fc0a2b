/**
 * Worker: serves task queues in batches. Per queue a fetch loop claims up to the room it
 * has in one store call that also starts the tasks it can run at once (blocking, never
 * polling, when the queue is empty); up to `concurrency` tasks run at once; runs that end
 * are settled in batches (settler.ts), and a fetched task waiting for a slot is started
 * in the same batch calls; one lease keeper refreshes everything the worker holds;
 * schedules of periodic and cron tasks are claimed here. `close()` stops fetching, hands
 * back what has not started at once, and waits for running tasks up to `shutdownTimeout`.
 */
import { EventEmitter, setMaxListeners } from 'node:events';
import { MAX_BATCH } from '../data/options.js';
import { VisqError } from '../errors.js';
import { after, settleWithin, sleep } from '../sleep.js';
import type { AppCore, RegisteredTask } from '../tasks/core.js';
import { isTaskMessage, type TaskMessage } from '../tasks/message.js';
import { newId } from '../tasks/ids.js';
import { claimRound } from '../tasks/schedule.js';
import { enqueue } from '../tasks/task.js';
import { outsideTraces, startProcess } from '../trace/spans.js';
import type { ClaimedTask, ClaimRequest, ClaimResult, SettleOp, SettleOutcome } from '../tasks/task-store.js';
import { Deadlines } from './deadlines.js';
import type { WorkerEvents } from './events.js';
import { LeaseKeeper } from './lease-keeper.js';
import { workerSettings, type WorkerOptions, type WorkerSettings } from './options.js';
import { givenUp, RunContext } from './run-task.js';
import { Settler, type SettleCallback } from './settler.js';
import { shardQueues } from './shard.js';

/** Longest blocking wait of one claim on an empty queue, ms. */
const FETCH_WAIT_MS = 10_000;
/** Back-off bounds after a store failure, ms. */
const BACKOFF_MIN_MS = 100;
const BACKOFF_MAX_MS = 5000;
/** A task no worker here knows is handed back for this long, ms, for a worker that knows it. */
const UNKNOWN_TASK_DELAY_MS = 5000;
/** What a spent task's record says happened to its last run. */
const DIED = 'the worker running the last attempt stopped before it finished';

/** A task queue this worker serves. */
interface Served {
  readonly name: string;
  readonly base: string;
  readonly settler: Settler;
}

/** A delivery fetched ahead, waiting for a slot and a start. */
interface Held {
  readonly served: Served;
  readonly claimed: ClaimedTask;
  readonly registered: RegisteredTask;
  readonly message: TaskMessage;
}

function asError(value: unknown): Error {
  return value instanceof Error ? value : new Error(String(value));
}

function decode(payload: string): unknown {
  try {
    return JSON.parse(payload) as unknown;
  } catch {
    return undefined;
  }
}

/** A running worker; create it with `app.worker(options)`. */
export class Worker extends EventEmitter<WorkerEvents> {
  /** The task queues served. */
  readonly queues: readonly string[];
  /** The validated options. */
  readonly settings: Readonly<WorkerSettings>;
  /** Resolves once the worker has stopped (after `close()` or its lifetime). */
  readonly closed: Promise<void>;

  readonly #core: AppCore;
  /** The lease of fetched tasks not started yet, and of at-most-once runs, ms. */
  readonly #leaseMs: number;
  readonly #served: Served[];
  readonly #buffer: Held[] = [];
  readonly #keeper: LeaseKeeper;
  readonly #deadlines = new Deadlines();
  /** Runs in progress (their contexts, to give them up). */
  readonly #runs = new Set<RunContext>();
  /** Settle ops under way: their deliveries' leases are held until then. */
  #settling = 0;
  /** Called whenever a run ends or a settle op is answered (see #until). */
  #onQuieter: (() => void)[] = [];
  readonly #fetchLoops: Promise<void>[] = [];
  readonly #stopFetching = new AbortController();
  readonly #giveUp = new AbortController();
  readonly #cancelTimers: (() => void)[] = [];
  /** Slots taken: runs in progress and starts under way. */
  #busy = 0;
  /** Room and slots reserved by claims under way. */
  #reserved = 0;
  #reservedStarts = 0;
  /** Runs taken toward `lifetime.tasks`: started, less those discarded unrun. */
  #taken = 0;
  #finishedRuns = 0;
  #closing: Promise<void> | undefined;
  /** Fetch loops waiting for room (one per served queue at most). */
  #roomWaiters: (() => void)[] = [];
  #resolveClosed: () => void = () => undefined;

  /** @internal Use `app.worker(options)`. */
  constructor(core: AppCore, options?: WorkerOptions) {
    super();
    this.#core = core;
    this.settings = Object.freeze(workerSettings(options));
    const served = this.settings.queues ?? [...new Set([...core.registry.values()].map((t) => t.settings.queue))];
    if (served.length === 0) {
      throw new VisqError('The worker has no queue to serve: register tasks first or pass `queues`', 'ERR_VISQ_TASK');
    }
    // a machine of a sharded fleet that no queue hashes to runs idle rather than failing:
    // it is usually one of identical replicas, and a supervisor would only restart it
    this.queues = Object.freeze(this.settings.shard ? shardQueues(served, this.settings.shard) : [...served]);
    const leases = [...core.registry.values()]
      .filter((t) => this.queues.includes(t.settings.queue) && t.settings.visTimeout > 0)
      .map((t) => t.settings.visTimeout);
    this.#leaseMs = Math.ceil((this.settings.lease ?? (leases.length > 0 ? Math.min(...leases) : 30)) * 1000);
    this.closed = new Promise((resolve) => {
      this.#resolveClosed = resolve;
    });
    // every blocking claim listens to these
    setMaxListeners(0, this.#stopFetching.signal, this.#giveUp.signal);
    const report = (error: unknown): void => this.#report(error);
    this.#keeper = new LeaseKeeper(core.tasks, report, (leases) => this.#lost(leases));
    this.#served = this.queues.map((name) => {
      const base = core.base(name);
      return { name, base, settler: new Settler(core.tasks, base, () => core.specs(name), report) };
    });
    // the loops outlive this call: they never join the trace of the code that made the worker
    outsideTraces(() => {
      for (const served of this.#served) this.#fetchLoops.push(this.#fetchLoop(served));
      for (const task of core.registry.values()) {
        if (task.schedule && this.queues.includes(task.settings.queue)) void this.#scheduleLoop(task);
      }
    });
    if (this.settings.lifetimeMs > 0) this.#cancelTimers.push(after(this.settings.lifetimeMs, () => void this.close()));
  }

  /** Tasks running now. */
  get running(): number {
    return this.#runs.size;
  }

  /** Runs finished (done or failed) since the worker started; deliveries discarded unrun are not counted. */
  get finishedRuns(): number {
    return this.#finishedRuns;
  }

  /**
   * Stops gracefully: no more fetching; fetched tasks that have not started go back to
   * their queue at once (without using an attempt); running tasks get up to
   * `shutdownTimeout` seconds, after which they are given up (their run counts as
   * failed and the task is retried if it has attempts left); then every outcome is
   * settled. Idempotent.
   */
  close(): Promise<void> {
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  async #shutdown(): Promise<void> {
    this.#stopFetching.abort();
    for (const cancel of this.#cancelTimers) cancel();
    this.#wakeFetchers();
    // a claim under way finishes first: what it claimed goes back with the rest
    await Promise.all(this.#fetchLoops);
    this.#handBack(this.#buffer.splice(0));
    if (this.#runs.size > 0) {
      await settleWithin(this.#until(() => this.#runs.size === 0), this.settings.shutdownTimeout * 1000);
      this.#giveUp.abort();
      // a stopped run ends at once: its failure is settled like any other
      for (const context of [...this.#runs]) context.stop(givenUp());
    }
    await this.#until(() => this.#settling === 0);
    await Promise.all(this.#served.map((served) => served.settler.drained()));
    this.#keeper.stop();
    this.#deadlines.clear();
    this.emit('closed');
    this.#resolveClosed();
  }

  get #fetching(): boolean {
    return !this.#stopFetching.signal.aborted;
  }

  /** Resolves once `done()` holds, checked whenever a run ends or a settle op is answered. */
  #until(done: () => boolean): Promise<void> {
    if (done()) return Promise.resolve();
    return new Promise((resolve) => {
      const check = (): void => {
        if (done()) resolve();
        else this.#onQuieter.push(check);
      };
      this.#onQuieter.push(check);
    });
  }

  #quieter(): void {
    const waiting = this.#onQuieter;
    this.#onQuieter = [];
    for (const check of waiting) check();
  }

  #report(error: unknown): void {
    const failure = asError(error);
    if (this.listenerCount('error') > 0) this.emit('error', failure);
    else process.emitWarning(failure);
  }

  /** Claims tasks of one queue whenever there is room, blocking on an empty queue. */
  async #fetchLoop(served: Served): Promise<void> {
    const capacity = Math.max(this.settings.prefetch, this.settings.concurrency);
    // a loop blocked on an empty queue holds at most its share of the room, so that the
    // loops of the other queues can keep fetching meanwhile
    const share = Math.max(1, Math.floor(capacity / this.queues.length));
    let backoff = 0;
    let empty: ClaimResult | undefined;
    // refill once a quarter of the room is free, not at every free slot: one claim per
    // batch of tasks, not one per task
    const refill = Math.max(1, Math.floor(capacity / 4));
    while (this.#fetching) {
      const free = capacity - this.#buffer.length - this.#busy - this.#settling - this.#reserved;
      const room = Math.min(MAX_BATCH, empty ? Math.min(free, share) : free);
      if (room <= 0 || (room < refill && this.#buffer.length > 0)) {
        await new Promise<void>((resolve) => this.#roomWaiters.push(resolve));
        continue;
      }
      const start = Math.max(0, Math.min(room, this.settings.concurrency - this.#busy - this.#reservedStarts));
      this.#reserved += room;
      this.#reservedStarts += start;
      const request: ClaimRequest = {
        count: room,
        start,
        leaseMs: this.#leaseMs,
        token: newId(),
        specs: this.#core.specs(served.name),
        limits: this.#core.limits(served.name),
      };
      try {
        const result =
          empty?.limited === 'rate'
            ? await this.#claimWhenDue(served, empty.nextDueMs, request)
            : empty
              ? await this.#core.tasks.waitThenClaim(served.base, empty.cursor, this.#blockMs(empty), request, this.#stopFetching.signal)
              : await this.#core.tasks.claim(served.base, request);
        backoff = 0;
        if (!result) break;
        // try without blocking first; block only once the queue was seen empty
        empty = result.tasks.length === 0 ? result : undefined;
        this.#reserved -= room;
        this.#reservedStarts -= start;
        if (this.#fetching) this.#take(served, result.tasks);
        else this.#handBack(result.tasks.flatMap((claimed) => this.#held(served, claimed) ?? []));
      } catch (error) {
        this.#reserved -= room;
        this.#reservedStarts -= start;
        if (!this.#fetching) break;
        this.#report(error);
        backoff = Math.min(BACKOFF_MAX_MS, Math.max(BACKOFF_MIN_MS, backoff * 2));
        await sleep(backoff, this.#stopFetching.signal);
      } finally {
        this.#wakeFetchers();
      }
      this.#pump();
    }
  }

  /**
   * A claim held back by the queue's rate limit: only time brings the next token, so the
   * loop sleeps until it is due and claims then (no store call meanwhile, no put wakes
   * it). Resolves undefined when the worker stops meanwhile.
   */
  async #claimWhenDue(served: Served, dueMs: number, request: ClaimRequest): Promise<ClaimResult | undefined> {
    await sleep(Math.max(0, dueMs), this.#stopFetching.signal);
    if (!this.#fetching) return undefined;
    return this.#core.tasks.claim(served.base, request);
  }

  /** How long a claim on an empty queue blocks: until the next delayed item or lease deadline at the latest. */
  #blockMs(empty: ClaimResult): number {
    return empty.nextDueMs >= 0 ? Math.min(FETCH_WAIT_MS, empty.nextDueMs + 1) : FETCH_WAIT_MS;
  }

  #wakeFetchers(): void {
    const waiters = this.#roomWaiters;
    this.#roomWaiters = [];
    for (const wake of waiters) wake();
  }

  /** Takes what a claim returned: runs what it started, holds the rest, settles what cannot run. */
  #take(served: Served, claimed: readonly ClaimedTask[]): void {
    for (const task of claimed) {
      const held = this.#held(served, task);
      if (!held) continue;
      if (task.kind === 'started') {
        this.#busy += 1;
        this.#taken += 1;
        this.#run(held, task.attempt);
      } else if (task.kind === 'spent') {
        this.#failSpent(held, task.attempt);
      } else {
        this.#buffer.push(held);
        this.#keeper.hold(task.lease, served.base, this.#leaseMs);
      }
    }
    if (this.#lifetimeReached()) void this.close();
  }

  /**
   * The delivery as a task this worker can run, or undefined when it is not: an item
   * that is not a task message goes to the dead letters, a task not registered here is
   * handed back for a worker that knows it (a start this claim made is taken back).
   */
  #held(served: Served, claimed: ClaimedTask): Held | undefined {
    const message = decode(claimed.payload);
    if (!isTaskMessage(message)) {
      this.#report(new VisqError(`Queue ${served.name} holds an item that is not a task; it goes to dead letters`, 'ERR_VISQ_TASK'));
      this.#settleQuietly(served, { kind: 'fail', lease: claimed.lease, taskId: claimed.id, task: '', attempt: 0, error: 'not a task', runMs: -1, forceDead: true });
      return undefined;
    }
    const registered = this.#core.registry.get(message.t);
    if (!registered || registered.settings.queue !== served.name) {
      this.#report(new VisqError(`No task named ${JSON.stringify(message.t)} is registered in this worker; handed back`, 'ERR_VISQ_TASK'));
      this.#settleQuietly(served, {
        kind: 'handBack',
        lease: claimed.lease,
        taskId: claimed.id,
        unstart: claimed.kind === 'started',
        delayMs: UNKNOWN_TASK_DELAY_MS,
      });
      return undefined;
    }
    return { served, claimed, registered, message };
  }

  #lifetimeReached(): boolean {
    return this.settings.lifetimeTasks > 0 && this.#taken >= this.settings.lifetimeTasks;
  }

  /** Starts fetched tasks while there are free slots: each start rides the next settle call. */
  #pump(): void {
    while (
      this.#buffer.length > 0 &&
      this.#busy < this.settings.concurrency &&
      !this.#giveUp.signal.aborted &&
      !this.#lifetimeReached()
    ) {
      const held = this.#buffer.shift() as Held;
      this.#busy += 1;
      this.#taken += 1;
      const { served, claimed, registered } = held;
      const op: SettleOp = {
        kind: 'start',
        lease: claimed.lease,
        taskId: claimed.id,
        task: registered.name,
        firstDelivery: claimed.delivery === 1,
      };
      this.#submit(served, op, (outcome, error) => {
        if (outcome) return this.#started(held, outcome);
        // the start was never recorded: the delivery comes back after its lease
        this.#report(error);
        this.#keeper.release(claimed.lease);
        this.#free(false);
      });
      if (this.#lifetimeReached()) void this.close();
    }
  }

  #started(held: Held, outcome: SettleOutcome): void {
    if (outcome.applied && outcome.state === 'started') return this.#run(held, outcome.attempt);
    this.#keeper.release(held.claimed.lease);
    if (outcome.applied && outcome.state === 'failed') {
      // its last run died with another worker: the start failed it for good
      this.#emitDead(held, outcome.attempt, outcome.deadLettered === true);
      this.#finishedRuns += 1;
      return this.#free(true);
    }
    // cancelled, or finished by an earlier holder: discarded without a run
    this.#free(false);
  }

  /** A slot is free again; `ran` tells whether it counts toward `lifetime.tasks`. */
  #free(ran: boolean): void {
    this.#busy -= 1;
    if (!ran) this.#taken -= 1;
    this.#wakeFetchers();
    this.#pump();
  }

  #run(held: Held, attempt: number): void {
    const { served, claimed, registered, message } = held;
    const { settings } = registered;
    this.#keeper.hold(claimed.lease, served.base, settings.visTimeout > 0 ? Math.ceil(settings.visTimeout * 1000) : this.#leaseMs);
    const context = new RunContext(claimed.id, registered.name, served.name, attempt, settings.attempts);
    if (this.listenerCount('started') > 0) this.emit('started', this.#info(held, attempt));
    const traced = startProcess(claimed, () => ({ queue: served.name, task: registered.name, attempt, mode: settings.trace }));
    this.#runs.add(context);
    const start = (): void =>
      context.start(
        registered.fn as (...args: unknown[]) => unknown,
        message.a,
        settings.timeout || this.settings.timeout,
        this.#deadlines,
        (ok, value, runMs) => {
          // only the run is in its span: what follows it (settling) serves many runs at once
          traced?.end(ok ? undefined : (value as Error));
          this.#runs.delete(context);
          // the slot is free before the outcome is settled: the next task need not wait for it
          this.#free(true);
          this.#settle(held, attempt, ok, value, runMs);
          this.#quieter();
        },
      );
    if (traced) traced.run(start);
    else start();
  }

  /** Records how a run ended (done, retry, failed) and releases its lease once the store has it. */
  #settle(held: Held, attempt: number, ok: boolean, value: unknown, runMs: number): void {
    const { served, claimed, registered } = held;
    const { settings } = registered;
    let error = ok ? undefined : (value as Error);
    let result: string | undefined;
    if (ok && settings.saveResults > 0 && value !== undefined) {
      try {
        result = JSON.stringify(value);
      } catch (cause) {
        error = new VisqError(`Task ${registered.name} returned a value JSON cannot encode`, 'ERR_VISQ_TASK', { cause });
      }
    }
    const willRetry = attempt < settings.attempts;
    // whole ms, rounded up (the histogram's bounds are whole ms): short text for the store,
    // and a few distinct values per batch
    const ms = Math.ceil(runMs);
    const lease = claimed.lease;
    const taskId = claimed.id;
    const task = registered.name;
    const op: SettleOp = !error
      ? result === undefined
        ? { kind: 'done', lease, taskId, task, attempt, runMs: ms }
        : { kind: 'done', lease, taskId, task, attempt, runMs: ms, result }
      : willRetry
        ? { kind: 'retry', lease, taskId, task, attempt, runMs: ms, error: error.message }
        : { kind: 'fail', lease, taskId, task, attempt, runMs: ms, error: error.message };
    this.#submit(served, op, (outcome, failure) => {
      this.#keeper.release(lease);
      // given up: the delivery comes back after its lease, as at-least-once delivery allows
      if (!outcome) return this.#report(failure);
      this.#finishedRuns += 1;
      if (!error) {
        if (this.listenerCount('done') > 0) this.emit('done', { ...this.#info(held, attempt), result: value, ms: runMs });
        return;
      }
      if (this.listenerCount('failed') > 0) this.emit('failed', { ...this.#info(held, attempt), error, willRetry });
      // a failure settle sent twice (a client resending after a reconnect) answers its
      // repeat as not applied, with the failed state: the spec tells what became of the item
      if (!willRetry) {
        this.#emitDead(held, attempt, outcome.applied ? outcome.deadLettered === true : outcome.state === 'failed' && settings.useDead);
      }
    });
  }

  /** Fails a task whose last run died with its worker (found by a claim). */
  #failSpent(held: Held, attempt: number): void {
    const { served, claimed, registered } = held;
    const op: SettleOp = { kind: 'fail', lease: claimed.lease, taskId: claimed.id, task: registered.name, attempt, error: DIED, runMs: -1 };
    this.#submit(served, op, (outcome, error) => {
      if (!outcome) return this.#report(error);
      if (!outcome.applied) return;
      this.#finishedRuns += 1;
      this.#emitDead(held, attempt, outcome.deadLettered === true);
    });
  }

  /**
   * Submits a settle op. Until it is answered its delivery counts as held (but a start's,
   * which holds a slot already).
   */
  #submit(served: Served, op: SettleOp, done: SettleCallback): void {
    const held = op.kind === 'start' ? 0 : 1;
    this.#settling += held;
    served.settler.submit(op, (outcome, error) => {
      this.#settling -= held;
      try {
        done(outcome, error);
      } finally {
        this.#wakeFetchers();
        this.#quieter();
      }
    });
  }

  #emitDead(held: Held, attempt: number, deadLettered: boolean): void {
    if (this.listenerCount('dead') > 0) this.emit('dead', { ...this.#info(held, attempt), deadLettered });
  }

  #info(held: Held, attempt: number): { taskId: string; task: string; queue: string; attempt: number; attempts: number } {
    return {
      taskId: held.claimed.id,
      task: held.registered.name,
      queue: held.served.name,
      attempt,
      attempts: held.registered.settings.attempts,
    };
  }

  /** Gives fetched tasks back at once, without using an attempt (a start a claim made is taken back). */
  #handBack(held: readonly Held[]): void {
    for (const { served, claimed } of held) {
      this.#keeper.release(claimed.lease);
      this.#settleQuietly(served, {
        kind: 'handBack',
        lease: claimed.lease,
        taskId: claimed.id,
        unstart: claimed.kind === 'started',
        delayMs: 0,
      });
    }
  }

  /** A settle op whose outcome only matters to the store; a failure is reported (the lease then ends by itself). */
  #settleQuietly(served: Served, op: SettleOp): void {
    this.#submit(served, op, (outcome, error) => {
      if (!outcome) this.#report(error);
    });
  }

  /** Leases the store no longer has for this worker: fetched tasks among them are another worker's now. */
  #lost(leases: readonly string[]): void {
    const lost = new Set(leases);
    for (let i = this.#buffer.length - 1; i >= 0; i -= 1) {
      const lease = (this.#buffer[i] as Held).claimed.lease;
      if (lost.has(lease)) {
        this.#buffer.splice(i, 1);
        this.#keeper.release(lease);
      }
    }
  }

  async #scheduleLoop(task: RegisteredTask): Promise<void> {
    const schedule = task.schedule;
    if (!schedule) return;
    const base = this.#core.base(task.settings.queue);
    let backoff = 0;
    while (this.#fetching) {
      try {
        const waitMs = await claimRound(this.#core.tasks, base, task.name, schedule, async () => {
          // each tick starts a trace of its own, not one endless trace of the loop
          await outsideTraces(() => enqueue(this.#core, task, [[]], () => 'args', { delay: 0, priority: 0 }));
        });
        backoff = 0;
        await sleep(waitMs, this.#stopFetching.signal);
      } catch (error) {
        if (!this.#fetching) break;
        this.#report(error);
        backoff = Math.min(BACKOFF_MAX_MS, Math.max(BACKOFF_MIN_MS, backoff * 2));
        await sleep(backoff, this.#stopFetching.signal);
      }
    }
  }
}
