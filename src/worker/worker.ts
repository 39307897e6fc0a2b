/**
 * Worker: serves task queues. Per queue a fetch loop reads batches under a lease
 * (blocking, never polling, when the queue is empty); up to `concurrency` tasks run at
 * once; a lease keeper refreshes what the worker holds; schedules of periodic and cron
 * tasks are claimed here. `close()` stops fetching, hands back what has not started at
 * once, and waits for running tasks up to `shutdownTimeout`.
 */
import { EventEmitter, setMaxListeners } from 'node:events';
import { MAX_BATCH } from '../data/options.js';
import type { Delivery } from '../data/options.js';
import { VisqError } from '../errors.js';
import { settleWithin, sleep } from '../sleep.js';
import type { AppCore, RegisteredTask } from '../tasks/core.js';
import { isTaskMessage, type TaskMessage } from '../tasks/message.js';
import { claimRound } from '../tasks/schedule.js';
import { enqueue } from '../tasks/task.js';
import { StoreBatcher } from './batcher.js';
import type { WorkerEvents } from './events.js';
import { workerSettings, type WorkerOptions, type WorkerSettings } from './options.js';
import { runDelivery, type RunHooks } from './run-task.js';
import { shardQueues } from './shard.js';

/** Fetched deliveries are read with this blocking wait, in seconds, per call. */
const FETCH_WAIT_SECONDS = 10;
/** Back-off bounds after a store failure, ms. */
const BACKOFF_MIN_MS = 100;
const BACKOFF_MAX_MS = 5000;
/** How long a bookkeeping write is retried before the worker reports it lost, ms. */
const PERSIST_BUDGET_MS = 60_000;

interface Held {
  readonly queue: string;
  /** Lease length to refresh with, seconds. */
  readonly visTimeout: number;
}

interface Fetched {
  readonly queue: string;
  readonly delivery: Delivery<unknown>;
}

function asError(value: unknown): Error {
  return value instanceof Error ? value : new Error(String(value));
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
  readonly #batcher: StoreBatcher;
  readonly #leaseSeconds: number;
  readonly #buffer: Fetched[] = [];
  readonly #active = new Set<Promise<void>>();
  readonly #held = new Map<string, Held>();
  readonly #stopFetching = new AbortController();
  readonly #giveUp = new AbortController();
  readonly #timers: NodeJS.Timeout[] = [];
  #reserved = 0;
  /** Deliveries taken toward `lifetime.tasks`: taken from the buffer, less those discarded unrun. */
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
    this.#batcher = new StoreBatcher(core);
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
    this.#leaseSeconds = this.settings.lease ?? (leases.length > 0 ? Math.min(...leases) : 30);
    this.closed = new Promise((resolve) => {
      this.#resolveClosed = resolve;
    });
    // every running task and fetch listens to these: up to `concurrency` at once
    setMaxListeners(0, this.#stopFetching.signal, this.#giveUp.signal);
    for (const queue of this.queues) void this.#fetchLoop(queue);
    for (const task of core.registry.values()) {
      if (task.schedule && this.queues.includes(task.settings.queue)) void this.#scheduleLoop(task);
    }
    this.#startLeaseKeeper();
    if (this.settings.lifetimeMs > 0) {
      this.#timers.push(setTimeout(() => void this.close(), this.settings.lifetimeMs));
    }
  }

  /** Tasks running now. */
  get running(): number {
    return this.#active.size;
  }

  /** Runs finished (done or failed) since the worker started; deliveries discarded unrun are not counted. */
  get finishedRuns(): number {
    return this.#finishedRuns;
  }

  /**
   * Stops gracefully: no more fetching; fetched tasks that have not started go back to
   * their queue at once (without using an attempt); running tasks get up to
   * `shutdownTimeout` seconds, after which they are given up (their run counts as
   * failed and the task is retried if it has attempts left). Idempotent.
   */
  close(): Promise<void> {
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  async #shutdown(): Promise<void> {
    this.#stopFetching.abort();
    for (const timer of this.#timers) clearTimeout(timer);
    this.#wakeFetchers();
    await this.#handBack(this.#buffer.splice(0));
    if (this.#active.size > 0) {
      await settleWithin(Promise.allSettled(this.#active), this.settings.shutdownTimeout * 1000);
      this.#giveUp.abort();
      await Promise.allSettled(this.#active);
    }
    this.#held.clear();
    this.emit('closed');
    this.#resolveClosed();
  }

  get #fetching(): boolean {
    return !this.#stopFetching.signal.aborted;
  }

  #report(error: unknown): void {
    const failure = asError(error);
    if (this.listenerCount('error') > 0) this.emit('error', failure);
    else process.emitWarning(failure);
  }

  async #fetchLoop(queueName: string): Promise<void> {
    const queue = this.#core.queue(queueName);
    const capacity = Math.max(this.settings.prefetch, this.settings.concurrency);
    // a loop blocked on an empty queue holds at most its share of the room, so that the
    // loops of the other queues can keep fetching meanwhile
    const share = Math.max(1, Math.floor(capacity / this.queues.length));
    let backoff = 0;
    let blocking = false;
    while (this.#fetching) {
      const free = capacity - this.#buffer.length - this.#active.size - this.#reserved;
      const room = Math.min(MAX_BATCH, blocking ? Math.min(free, share) : free);
      if (room <= 0) {
        await new Promise<void>((resolve) => this.#roomWaiters.push(resolve));
        continue;
      }
      this.#reserved += room;
      try {
        const deliveries = await queue.getDeliveries(room, {
          visTimeout: this.#leaseSeconds,
          ...(blocking ? { wait: FETCH_WAIT_SECONDS, signal: this.#stopFetching.signal } : {}),
        });
        backoff = 0;
        // try without blocking first; block only once the queue was seen empty
        blocking = deliveries.length === 0;
        const fetched = deliveries.map((delivery) => ({ queue: queueName, delivery }));
        if (!this.#fetching) {
          await this.#handBack(fetched);
          break;
        }
        for (const f of fetched) {
          this.#held.set(f.delivery.lease, { queue: queueName, visTimeout: this.#leaseSeconds });
          this.#buffer.push(f);
        }
      } catch (error) {
        if (!this.#fetching) break;
        this.#report(error);
        backoff = Math.min(BACKOFF_MAX_MS, Math.max(BACKOFF_MIN_MS, backoff * 2));
        await sleep(backoff, this.#stopFetching.signal);
      } finally {
        this.#reserved -= room;
        this.#wakeFetchers();
      }
      this.#pump();
    }
  }

  #wakeFetchers(): void {
    const waiters = this.#roomWaiters;
    this.#roomWaiters = [];
    for (const wake of waiters) wake();
  }

  #lifetimeReached(): boolean {
    return this.settings.lifetimeTasks > 0 && this.#taken >= this.settings.lifetimeTasks;
  }

  #pump(): void {
    while (
      this.#buffer.length > 0 &&
      this.#active.size < this.settings.concurrency &&
      !this.#giveUp.signal.aborted &&
      !this.#lifetimeReached()
    ) {
      const next = this.#buffer.shift() as Fetched;
      this.#held.delete(next.delivery.lease);
      this.#taken += 1;
      const run = this.#run(next)
        .then((ran) => {
          if (ran) this.#finishedRuns += 1;
          // a delivery discarded unrun does not count toward the lifetime
          else this.#taken -= 1;
        })
        .finally(() => {
          this.#active.delete(run);
          this.#wakeFetchers();
          this.#pump();
        });
      this.#active.add(run);
      // with `lifetime.tasks`, stop taking work once enough runs are under way: close()
      // hands back what was fetched ahead and waits for the runs
      if (this.#lifetimeReached()) void this.close();
    }
  }

  /** Takes one delivery through its run; resolves whether a run happened. */
  async #run({ queue: queueName, delivery }: Fetched): Promise<boolean> {
    const queue = this.#core.queue(queueName);
    try {
      if (!isTaskMessage(delivery.item)) {
        this.#report(new VisqError(`Queue ${queueName} holds an item that is not a task; it goes to dead letters`, 'ERR_VISQ_TASK'));
        await queue.failData([delivery.lease], { useDead: true });
        return false;
      }
      const registered = this.#core.registry.get(delivery.item.t);
      if (!registered) {
        this.#report(
          new VisqError(`No task named ${JSON.stringify(delivery.item.t)} is registered in this worker; handed back`, 'ERR_VISQ_TASK'),
        );
        await queue.releaseData([delivery.lease], { countDelivery: false, delay: 5 });
        return false;
      }
      return await runDelivery(
        this.#core,
        registered,
        delivery as Delivery<TaskMessage>,
        this.settings.timeout,
        this.#hooks(),
      );
    } catch (error) {
      this.#report(error);
      return true;
    }
  }

  #hooks(): RunHooks {
    return {
      started: (info) => this.emit('started', info),
      done: (info) => this.emit('done', info),
      failed: (info) => this.emit('failed', info),
      dead: (info) => this.emit('dead', info),
      persist: (what, write) => this.#persist(what, write),
      store: this.#batcher,
      holdLease: (queue, lease, visTimeout) => {
        if (visTimeout === undefined) this.#held.delete(lease);
        else this.#held.set(lease, { queue, visTimeout });
      },
      giveUp: this.#giveUp.signal,
    };
  }

  async #persist<R>(what: string, write: () => Promise<R>): Promise<R> {
    const started = performance.now();
    let backoff = BACKOFF_MIN_MS;
    for (;;) {
      try {
        return await write();
      } catch (error) {
        if (performance.now() - started > PERSIST_BUDGET_MS) {
          throw new VisqError(`Gave up writing ${what} after ${PERSIST_BUDGET_MS / 1000} s`, 'ERR_VISQ_STORE', { cause: error });
        }
        this.#report(error);
        await sleep(backoff);
        backoff = Math.min(BACKOFF_MAX_MS, backoff * 2);
      }
    }
  }

  async #handBack(fetched: Fetched[]): Promise<void> {
    const byQueue = new Map<string, string[]>();
    for (const f of fetched) {
      this.#held.delete(f.delivery.lease);
      const leases = byQueue.get(f.queue) ?? [];
      leases.push(f.delivery.lease);
      byQueue.set(f.queue, leases);
    }
    for (const [queueName, leases] of byQueue) {
      try {
        await this.#core.queue(queueName).releaseData(leases, { countDelivery: false });
      } catch (error) {
        // they come back by themselves when their lease expires
        this.#report(error);
      }
    }
  }

  #startLeaseKeeper(): void {
    const lengths = [this.#leaseSeconds, ...[...this.#core.registry.values()].map((t) => t.settings.visTimeout)].filter(
      (s) => s > 0,
    );
    const everyMs = Math.max(20, (Math.min(...lengths) * 1000) / 3);
    const timer = setInterval(() => void this.#refreshHeld(), everyMs);
    this.#timers.push(timer);
    this.closed.then(() => clearInterval(timer), () => clearInterval(timer));
  }

  async #refreshHeld(): Promise<void> {
    const groups = new Map<string, { queue: string; visTimeout: number; leases: string[] }>();
    for (const [lease, held] of this.#held) {
      const key = `${held.queue}\u0000${held.visTimeout}`;
      const group = groups.get(key) ?? { queue: held.queue, visTimeout: held.visTimeout, leases: [] };
      group.leases.push(lease);
      groups.set(key, group);
    }
    for (const group of groups.values()) {
      try {
        const kept = await this.#core.queue(group.queue).refreshData(group.leases, { visTimeout: group.visTimeout });
        if (kept.size === group.leases.length) continue;
        // a fetched task whose lease was lost is another worker's now
        for (let i = this.#buffer.length - 1; i >= 0; i -= 1) {
          const lease = (this.#buffer[i] as Fetched).delivery.lease;
          if (group.leases.includes(lease) && !kept.has(lease)) {
            this.#buffer.splice(i, 1);
            this.#held.delete(lease);
          }
        }
      } catch (error) {
        this.#report(error);
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
        const waitMs = await claimRound(this.#core.records, base, task.name, schedule, async () => {
          await enqueue(this.#core, task, [[]], { delay: 0, priority: 0 });
        });
        backoff = 0;
        await sleep(waitMs, this.#stopFetching.signal);
      } catch (error) {
        this.#report(error);
        backoff = Math.min(BACKOFF_MAX_MS, Math.max(BACKOFF_MIN_MS, backoff * 2));
        await sleep(backoff, this.#stopFetching.signal);
      }
    }
  }
}
