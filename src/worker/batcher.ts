/**
 * Coalesces the store calls that a worker's task runs make in one event-loop turn into
 * one call per queue and kind of call, as DataLoader does: a worker running many short
 * tasks then makes a few script calls per turn instead of several per task. Each caller
 * still gets its own result. A batch that fails rejects every caller in it; each retries
 * on its own (through the worker's persist) and is batched again with the others.
 */
import { doneReporting } from '../data/queue.js';
import type { AppCore } from '../tasks/core.js';
import type { TaskMessage } from '../tasks/message.js';
import type { Transition, TransitionResult } from '../tasks/records.js';

/**
 * Most calls one batch carries; a busier turn sends several batches. Small on purpose:
 * with one big batch per turn the worker and Redis take turns (Redis idles while the
 * worker handles a reply, and the other way round); several batches in flight let the
 * worker handle the first reply while Redis runs the next script. Measured with 50
 * trivial tasks at once on one worker: 1000 → about 15k tasks/s, 16–32 → about 20k,
 * 5 → 19k (the fixed cost of a script call starts to show).
 */
export const MAX_CALLS_PER_BATCH = 32;

interface Pending<I, R> {
  readonly items: I[];
  readonly waiters: { resolve: (result: R) => void; reject: (error: unknown) => void }[];
  readonly run: (items: I[]) => Promise<R[]>;
}

/** Groups calls by key and runs each group once per event-loop turn. */
export class Coalescer {
  #pending = new Map<string, Pending<unknown, unknown>>();
  #scheduled = false;

  call<I, R>(key: string, item: I, run: (items: I[]) => Promise<R[]>): Promise<R> {
    let pending = this.#pending.get(key) as Pending<I, R> | undefined;
    if (!pending || pending.items.length >= MAX_CALLS_PER_BATCH) {
      if (pending) this.#send(pending);
      pending = { items: [], waiters: [], run };
      this.#pending.set(key, pending as Pending<unknown, unknown>);
    }
    pending.items.push(item);
    const result = new Promise<R>((resolve, reject) => pending.waiters.push({ resolve, reject }));
    if (!this.#scheduled) {
      this.#scheduled = true;
      // setImmediate rather than a microtask: calls made while promises of this turn
      // settle join the same batch
      setImmediate(() => this.#flush());
    }
    return result;
  }

  #flush(): void {
    const batches = this.#pending;
    this.#pending = new Map();
    this.#scheduled = false;
    for (const pending of batches.values()) this.#send(pending);
  }

  #send<I, R>(pending: Pending<I, R>): void {
    pending.run(pending.items).then(
      (results) => pending.waiters.forEach((waiter, i) => waiter.resolve(results[i] as R)),
      (error: unknown) => pending.waiters.forEach((waiter) => waiter.reject(error)),
    );
  }
}

/** The store calls of task runs, batched per queue. */
export class StoreBatcher {
  readonly #core: AppCore;
  readonly #coalescer = new Coalescer();

  constructor(core: AppCore) {
    this.#core = core;
  }

  /** A status change of a task of the queue at `base`. */
  transition(base: string, change: Transition): Promise<TransitionResult> {
    return this.#coalescer.call(`transition\u0000${base}`, change, (changes) =>
      this.#core.records.transitionMany(base, changes),
    );
  }

  /** Finishes a delivery before its run (at-most-once tasks); `false` when the lease was stale. */
  take(queue: string, lease: string): Promise<boolean> {
    return this.#coalescer.call(`take\u0000${queue}`, lease, async (leases) => {
      const taken = await this.#core.queue(queue)[doneReporting](leases);
      return leases.map((l) => taken.has(l));
    });
  }

  /** Finishes a delivery after its run. */
  finish(queue: string, lease: string): Promise<void> {
    return this.#coalescer.call(`done\u0000${queue}`, lease, async (leases) => {
      await this.#core.queue(queue).doneData(leases);
      return leases.map(() => undefined);
    });
  }

  /** Sets a delivery's lease to `visTimeout` from now; `false` when it was stale. */
  refresh(queue: string, lease: string, visTimeout: number): Promise<boolean> {
    return this.#coalescer.call(`refresh\u0000${queue}\u0000${visTimeout}`, lease, async (leases) => {
      const kept = await this.#core.queue(queue).refreshData(leases, { visTimeout });
      return leases.map((l) => kept.has(l));
    });
  }

  /** Ends a failed delivery so that the task runs again after `delay` seconds. */
  release(queue: string, lease: string, delay: number): Promise<void> {
    return this.#coalescer.call(`release\u0000${queue}\u0000${delay}`, lease, async (leases) => {
      await this.#core.queue(queue).releaseData(leases, { delay });
      return leases.map(() => undefined);
    });
  }

  /** Ends a delivery as a final failure: dead-lettered (`useDead`) or dropped. */
  fail(queue: string, lease: string, useDead: boolean): Promise<void> {
    return this.#coalescer.call(`fail\u0000${queue}\u0000${useDead}`, lease, async (leases) => {
      await this.#core.queue(queue).failData(leases, { useDead });
      return leases.map(() => undefined);
    });
  }

  /** Puts a task message on its queue (an at-most-once retry is a new item). */
  put(queue: string, message: TaskMessage, delay: number, priority: number): Promise<void> {
    return this.#coalescer.call(`put\u0000${queue}\u0000${delay}\u0000${priority}`, message, async (messages) => {
      await this.#core.queue(queue).putData(messages, { delay, priority });
      return messages.map(() => undefined);
    });
  }

  /** Puts a copy of a task message in its queue's dead-letter queue. */
  putDead(queue: string, message: TaskMessage): Promise<void> {
    return this.#coalescer.call(`dead\u0000${queue}`, message, async (messages) => {
      await this.#core.queue(queue).dead.putData(messages);
      return messages.map(() => undefined);
    });
  }
}
