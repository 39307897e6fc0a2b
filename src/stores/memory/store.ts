/**
 * MemoryStore: the queue store that keeps everything in this process. It implements the
 * storage seam (backend.ts) with the same observable contract as the Redis backend, so
 * DataQueue and every test suite run unchanged on it. The queue logic lives in
 * memory/queue-state.ts, blocking waits in memory/signals.ts.
 */
import { ClosedError } from '../../errors.js';
import {
  earlierDue,
  waitThenReadInTwoSteps,
  type PutRequest,
  type QueueBackend,
  type QueueStore,
  type RawItem,
  type RawGroup,
  type RawItemInfo,
  type RawStats,
  type ReadRequest,
  type ReadResult,
  type ReleaseMode,
  type ReleaseOutcome,
} from '../../data/backend.js';
import { clockNow } from '../../data/clock.js';
import { deadBase } from '../../data/keys.js';
import type { DedupeRequest, PutResult, RawDedupeHolder } from '../../data/dedupe.js';
import { putDeduped } from './dedupe.js';
import type { LeaseGroup } from '../../data/lease.js';
import { dumpQueue } from './dump.js';
import { QueueState } from './queue-state.js';
import { ChangeSignals } from './signals.js';
import { limitCursor, limitSignal, waitOnSignals } from './limit-signal.js';
import { MemoryTaskData, MemoryTaskStore } from './task-store.js';
import type { TaskStore, TaskStoreProvider } from '../../tasks/task-store.js';

/** What the backends of one MemoryStore share. */
class StoreCore {
  readonly queues = new Map<string, QueueState>();
  /** Queue names per prefix, as the Redis registry set keeps them. */
  readonly registry = new Map<string, Set<string>>();
  readonly signals = new ChangeSignals();
  readonly tasks = new MemoryTaskData();
  closed = false;
  /** The store object itself: the test clock hook is keyed by it. */
  readonly #clockKey: object;

  constructor(clockKey: object) {
    this.#clockKey = clockKey;
  }

  queue(base: string): QueueState {
    let state = this.queues.get(base);
    if (!state) {
      state = new QueueState(
        () => this.signals.notify(base),
        () => this.signals.notify(limitSignal(base)),
      );
      this.queues.set(base, state);
    }
    return state;
  }

  ensureOpen(): void {
    if (this.closed) throw new ClosedError('MemoryStore');
  }

  /** The store's time for one step (checked open first). */
  now(): number {
    this.ensureOpen();
    return clockNow(this.#clockKey);
  }
}

let coreOf: (store: MemoryStore) => StoreCore;

/**
 * An in-process queue store: `new DataQueue(new MemoryStore(), 'jobs')` behaves like a
 * queue on Redis — same ids, leases, ordering, visibility timeouts, attempts, dead
 * letters, delays, ttl, stats and blocking waits — without a server.
 *
 * Meant for tests, demos and single-process use: the data lives in this process only
 * (other processes cannot see it) and is lost when the process exits. One store holds
 * any number of queues; queues with the same name and prefix on the same store are the
 * same queue. Each operation is atomic, as a script is on Redis.
 *
 * `close()` ends pending blocking waits and clears their timers; the store then drops its
 * data and rejects further operations with {@link ClosedError}. DataQueues never close a
 * MemoryStore: whoever created it does.
 */
export class MemoryStore implements QueueStore, TaskStoreProvider {
  readonly #core = new StoreCore(this);

  static {
    coreOf = (store) => store.#core;
  }

  /** The backend of the queue whose key base is `base`; the same queue for the same base. */
  open(base: string): QueueBackend {
    return new MemoryQueueBackend(this.#core, base);
  }

  /** @internal The task side of this store; its records are shared by every app on it. */
  taskStore(): TaskStore {
    return new MemoryTaskStore(this.#core);
  }

  async registerQueue(prefix: string, name: string): Promise<void> {
    this.#core.ensureOpen();
    const names = this.#core.registry.get(prefix) ?? new Set<string>();
    names.add(name);
    this.#core.registry.set(prefix, names);
  }

  async forgetQueue(prefix: string, name: string): Promise<void> {
    this.#core.ensureOpen();
    this.#core.registry.get(prefix)?.delete(name);
  }

  async queueNames(prefix: string): Promise<string[]> {
    this.#core.ensureOpen();
    return [...(this.#core.registry.get(prefix) ?? [])].sort();
  }

  /** @internal Nothing to reach: answers at once, or ClosedError once the store is closed. */
  async checkConnection(_timeoutMs: number): Promise<void> {
    this.#core.ensureOpen();
  }

  /** Ends pending blocking waits, clears their timers and drops the data; later calls reject with ClosedError. */
  async close(): Promise<void> {
    const core = this.#core;
    core.closed = true;
    core.signals.close();
    core.queues.clear();
    core.registry.clear();
    core.tasks.clear();
  }
}

/**
 * The state of every queue of `store` whose key base contains `marker`, as plain data
 * that does not depend on how the store happens to lay it out (for test snapshots).
 * @internal Not exported from the package.
 */
export function dumpMemoryStore(store: MemoryStore, marker: string): Record<string, unknown> {
  const dump: Record<string, unknown> = {};
  const queues = [...coreOf(store).queues].filter(([base]) => base.includes(marker));
  for (const [base, state] of queues.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const content = dumpQueue(state.contents());
    if (content) dump[base] = content;
  }
  return dump;
}

/**
 * How many blocking waits of `store` are pending (for tests that check a reader really
 * blocks, as blocked clients do on Redis).
 * @internal Not exported from the package.
 */
export function pendingWaits(store: MemoryStore): number {
  return coreOf(store).signals.pending;
}

/**
 * What `store` keeps of the tasks of the queue at `base`, counted: records of tasks whose
 * item is queued, records of finished tasks, saved results, and the expiry marks of those
 * two (for tests that check finished tasks do not pile up in the heap).
 * @internal Not exported from the package.
 */
export function storedTasks(store: MemoryStore, base: string): { pending: number; finished: number; results: number; marks: number } {
  const { pending, finished, results } = coreOf(store).tasks;
  // finished records and results are keyed "<base>\n<task id>"
  const mine = (key: string): boolean => key.startsWith(`${base}\n`);
  const done = finished.count(mine);
  const saved = results.count(mine);
  return { pending: pending.get(base)?.size ?? 0, finished: done.entries, results: saved.entries, marks: done.marks + saved.marks };
}

class MemoryQueueBackend implements QueueBackend {
  readonly #core: StoreCore;
  readonly #base: string;
  /** For a dead-letter queue: the base of the queue whose dead letters it holds. */
  readonly #parentBase: string | undefined;

  constructor(core: StoreCore, base: string, parentBase?: string) {
    this.#core = core;
    this.#base = base;
    this.#parentBase = parentBase;
  }

  /**
   * A dead-letter queue first brings its parent up to date, as the Redis backend does;
   * returns the ms until the parent's next lease deadline (-1: none, or no parent).
   */
  #catchUpParent(now: number): number {
    if (this.#parentBase === undefined) return -1;
    return this.#core.queue(this.#parentBase).catchUp(now, this.#core.queue(this.#base));
  }

  #queue(): QueueState {
    return this.#core.queue(this.#base);
  }

  #dead(): QueueState {
    return this.#core.queue(deadBase(this.#base));
  }

  async put(request: PutRequest): Promise<string[]> {
    const now = this.#core.now();
    return this.#queue().put(request, now);
  }

  async putDeduped(request: PutRequest, dedupe: DedupeRequest): Promise<PutResult[]> {
    return putDeduped(this.#queue(), this.#dead(), request, dedupe, this.#core.now());
  }

  async dedupeHolder(key: string): Promise<RawDedupeHolder | undefined> {
    const now = this.#core.now();
    this.#queue().catchUp(now, this.#dead());
    return this.#queue().dedupe.info(key, now);
  }

  async dedupeClear(key: string): Promise<boolean> {
    const now = this.#core.now();
    this.#queue().catchUp(now, this.#dead());
    return this.#queue().dedupe.clear(key, now);
  }

  async read(request: ReadRequest): Promise<ReadResult> {
    const now = this.#core.now();
    const parentDueMs = this.#catchUpParent(now);
    const { deliveries, nextDueMs, limited } = this.#queue().read(request, now, this.#dead());
    if (limited) return { deliveries, nextDueMs, cursor: limitCursor(this.#core.signals, this.#base, limited), limited };
    const cursor = deliveries.length > 0 ? '' : this.#core.signals.cursor(this.#base);
    return { deliveries, nextDueMs: deliveries.length > 0 ? nextDueMs : earlierDue(nextDueMs, parentDueMs), cursor };
  }

  async done(groups: readonly LeaseGroup[]): Promise<number> {
    return (await this.doneLeases(groups)).length;
  }

  async doneLeases(groups: readonly LeaseGroup[]): Promise<string[]> {
    const now = this.#core.now();
    return this.#queue().done(groups, now);
  }

  async refresh(groups: readonly LeaseGroup[], visTimeoutMs: number): Promise<string[]> {
    const now = this.#core.now();
    return this.#queue().refresh(groups, visTimeoutMs, now, this.#dead());
  }

  async release(groups: readonly LeaseGroup[], mode: ReleaseMode): Promise<Map<string, ReleaseOutcome>> {
    const now = this.#core.now();
    // as on Redis, a call without leases is not sent at all, so it maintains nothing
    if (groups.length === 0) return new Map();
    return this.#queue().release(groups, mode, now, this.#dead());
  }

  async peek(count: number): Promise<RawItem[]> {
    const now = this.#core.now();
    this.#catchUpParent(now);
    return this.#queue().peek(count, now, this.#dead());
  }

  async stats(): Promise<RawStats> {
    const now = this.#core.now();
    this.#catchUpParent(now);
    return this.#queue().stats(now, this.#dead());
  }

  async unblockGroups(groups: readonly string[]): Promise<number> {
    const now = this.#core.now();
    this.#catchUpParent(now);
    return this.#queue().unblockGroups(groups, now, this.#dead());
  }

  async groups(): Promise<RawGroup[]> {
    const now = this.#core.now();
    this.#catchUpParent(now);
    return this.#queue().groups(now, this.#dead());
  }

  async redrive(count: number): Promise<number> {
    const now = this.#core.now();
    this.#catchUpParent(now);
    return this.#queue().redrive(count, now, this.#dead());
  }

  async inspect(id: string): Promise<RawItemInfo | undefined> {
    const now = this.#core.now();
    this.#catchUpParent(now);
    this.#queue().catchUp(now, this.#dead());
    return this.#queue().inspect(id);
  }

  async clear(): Promise<void> {
    this.#core.ensureOpen();
    this.#queue().clear();
    this.#dead().clear();
    // as on Redis: what a dead-letter queue of the dead-letter queue holds goes too
    if (this.#parentBase === undefined) this.#core.queues.get(deadBase(deadBase(this.#base)))?.clear();
    // a task queue's records go with its items, as the clear script deletes them
    if (this.#parentBase === undefined) this.#core.tasks.clearQueue(this.#base);
  }

  async limit(pauseMs: number): Promise<number> {
    const now = this.#core.now();
    return this.#queue().pause(pauseMs, now);
  }

  async waitForChange(cursor: string, timeoutMs: number, signal?: AbortSignal): Promise<void> {
    await waitOnSignals(this.#core.signals, this.#base, cursor, timeoutMs, signal);
  }

  async waitThenRead(cursor: string, timeoutMs: number, request: ReadRequest, signal?: AbortSignal): Promise<ReadResult | undefined> {
    return waitThenReadInTwoSteps(this, cursor, timeoutMs, request, signal);
  }

  dead(): QueueBackend {
    return new MemoryQueueBackend(this.#core, deadBase(this.#base), this.#base);
  }
}
