/**
 * The task side of a MemoryStore: the in-process twin of the Redis task scripts
 * (stores/redis/scripts/tasks/*.lua), with the same state machine, the same clock (the
 * store's test hook) and the same observable results. Each method is one synchronous
 * step, which is what makes it atomic here. The records of one MemoryStore are shared by
 * every app using it.
 */
import type { DedupeRequest, PutResult } from '../../data/dedupe.js';
import { putDeduped } from './dedupe.js';
import { deadBase } from '../../data/keys.js';
import { collectLeases, parseLease } from '../../data/lease.js';
import { limitCursor, waitOnSignals } from './limit-signal.js';
import { MAX_ATTEMPTS } from '../../data/options.js';
import { transitionIncrements } from '../../tasks/metrics.js';
import { cutUtf8, FAILURE_ERROR_BYTES, FAILURES_KEPT, type RecordState, type TaskEventListener, type TaskFailure, type TaskRecord } from '../../tasks/records.js';
import type {
  ClaimedTask,
  ClaimRequest,
  ClaimResult,
  EnqueueRequest,
  ScheduleClaim,
  ScheduleMode,
  SettleOp,
  SettleOutcome,
  TaskSpec,
  TaskStore,
} from '../../tasks/task-store.js';
import { ExpiringMap } from './expiring.js';
import type { QueueState } from './queue-state.js';
import type { ChangeSignals } from './signals.js';

/** The record of a task whose item is in its queue. */
interface PendingRecord {
  /** `cancelled`: cancelled while queued; its item waits for a claim to discard it. */
  state: 'queued' | 'delayed' | 'started' | 'cancelled';
  attempt: number;
  at: number;
  readonly task: string;
  /** The lease of the delivery that started the current run ('' when not started). */
  lease: string;
  error?: string;
  /** `cancelled`: how long its record is kept once the item is discarded, ms. */
  keepMs?: number;
}

/** The record of a finished task, kept for a while after its item left the queue. */
interface FinishedRecord {
  readonly state: 'done' | 'failed' | 'cancelled';
  readonly attempt: number;
  readonly at: number;
  readonly task: string;
  readonly error?: string;
  readonly hasResult: boolean;
}

/** The task records of one MemoryStore. */
export class MemoryTaskData {
  /** Per queue base: task id -> record, for tasks whose item is in the queue. */
  readonly pending = new Map<string, Map<string, PendingRecord>>();
  /** `${base}\n${taskId}` -> record of a finished task. */
  readonly finished = new ExpiringMap<FinishedRecord>();
  readonly results = new ExpiringMap<string>();
  readonly schedules = new Map<string, number>();
  /** Per queue base: the task metrics, as the scripts keep them in a hash. */
  readonly metrics = new Map<string, Map<string, number>>();
  /** Per queue base: the latest failed runs, newest first, at most FAILURES_KEPT. */
  readonly failures = new Map<string, TaskFailure[]>();
  readonly listeners = new Map<string, Set<TaskEventListener>>();

  /** Forgets the records of the tasks of a cleared queue, as the clear script deletes them. */
  clearQueue(base: string): void {
    this.pending.delete(base);
  }

  clear(): void {
    this.pending.clear();
    this.finished.clear();
    this.results.clear();
    this.schedules.clear();
    this.metrics.clear();
    this.failures.clear();
    this.listeners.clear();
  }
}

/** What the task store needs of its MemoryStore. */
export interface MemoryTaskCore {
  queue(base: string): QueueState;
  /** The store's time for one step; throws once the store is closed. */
  now(): number;
  readonly signals: ChangeSignals;
  readonly tasks: MemoryTaskData;
}

function finishedKey(base: string, taskId: string): string {
  return `${base}\n${taskId}`;
}

function groupsOf(lease: string): ReturnType<typeof collectLeases> {
  return collectLeases('lease', [lease]);
}

/** One step's writes that waiters and metrics hear of, applied at the end of the step. */
class StepLog {
  readonly events: { taskId: string; state: RecordState }[] = [];
  readonly counts: [string, number][] = [];
  /** Failed runs, oldest first. */
  readonly failures: TaskFailure[] = [];

  failed(task: string, taskId: string, error: string, attempt: number, final: boolean, at: number): void {
    this.failures.push({ taskId, task, item: taskId, error: cutUtf8(error, FAILURE_ERROR_BYTES), attempt, final, at });
  }

  changed(taskId: string, state: RecordState, task: string, failedRun: boolean, runMs: number): void {
    this.events.push({ taskId, state });
    this.counts.push(...transitionIncrements(task, state, failedRun, runMs));
  }
}

export class MemoryTaskStore implements TaskStore {
  readonly #core: MemoryTaskCore;

  constructor(core: MemoryTaskCore) {
    this.#core = core;
  }

  get #data(): MemoryTaskData {
    return this.#core.tasks;
  }

  #pending(base: string): Map<string, PendingRecord> {
    let records = this.#data.pending.get(base);
    if (!records) {
      records = new Map();
      this.#data.pending.set(base, records);
    }
    return records;
  }

  async enqueue(base: string, request: EnqueueRequest): Promise<boolean[]> {
    const now = this.#core.now();
    const records = this.#pending(base);
    const written = request.tasks.map(
      ({ taskId }) => !records.has(taskId) && this.#data.finished.get(finishedKey(base, taskId), now) === undefined,
    );
    const fresh = request.tasks.filter((_, i) => written[i]);
    if (fresh.length === 0) return written;
    const state = request.delayMs > 0 ? 'delayed' : 'queued';
    for (const { taskId } of fresh) records.set(taskId, { state, attempt: 0, at: now, task: request.task, lease: '' });
    const put = {
      payloads: fresh.map((t) => t.payload),
      delayMs: request.delayMs,
      priority: request.priority,
      ttlMs: 0,
      ...(request.meta ? { metas: [request.meta] } : {}),
    };
    this.#core.queue(base).put(put, now, fresh.map((t) => t.taskId));
    return written;
  }

  async enqueueDeduped(base: string, request: EnqueueRequest, dedupe: DedupeRequest): Promise<PutResult[]> {
    const now = this.#core.now();
    const records = this.#pending(base);
    const answers: PutResult[] = request.tasks.map(({ taskId }) => ({ id: taskId, duplicate: false }));
    // a task sent again (its id has a record) is answered as itself, as enqueue does
    const fresh = request.tasks
      .map((task, i) => ({ task, i }))
      .filter(({ task }) => !records.has(task.taskId) && this.#data.finished.get(finishedKey(base, task.taskId), now) === undefined);
    if (fresh.length === 0) return answers;
    const put = {
      payloads: fresh.map(({ task }) => task.payload),
      delayMs: request.delayMs,
      priority: request.priority,
      ttlMs: 0,
      ...(request.meta ? { metas: [request.meta] } : {}),
    };
    const keys = { ...dedupe, keys: fresh.map(({ i }) => dedupe.keys[i] as string) };
    const ids = fresh.map(({ task }) => task.taskId);
    const put_ = putDeduped(this.#core.queue(base), this.#core.queue(deadBase(base)), put, keys, now, ids);
    const state = request.delayMs > 0 ? 'delayed' : 'queued';
    put_.forEach((answer, j) => {
      const { i, task } = fresh[j] as { i: number; task: { taskId: string } };
      answers[i] = answer;
      if (!answer.duplicate) records.set(task.taskId, { state, attempt: 0, at: now, task: request.task, lease: '' });
    });
    return answers;
  }

  async claim(base: string, request: ClaimRequest): Promise<ClaimResult> {
    const now = this.#core.now();
    const queue = this.#core.queue(base);
    const read = queue.read(
      { count: request.count, visTimeoutMs: request.leaseMs, attempts: MAX_ATTEMPTS, useDead: false, limits: request.limits },
      now,
      this.#core.queue(deadBase(base)),
    );
    if (read.limited) {
      const cursor = limitCursor(this.#core.signals, base, read.limited);
      return { tasks: [], nextDueMs: read.nextDueMs, cursor, limited: read.limited };
    }
    if (read.deliveries.length === 0) {
      return { tasks: [], nextDueMs: read.nextDueMs, cursor: this.#core.signals.cursor(base) };
    }
    const specs = new Map(request.specs.map((spec) => [spec.name, spec]));
    const records = this.#pending(base);
    const log = new StepLog();
    const tasks: ClaimedTask[] = [];
    read.deliveries.forEach(({ lease, id, delivery, payload, meta }, i) => {
      const record = records.get(id);
      const spec = record && specs.get(record.task);
      let kind: ClaimedTask['kind'] | 'discard';
      let attempt = record?.attempt ?? 0;
      if (!record) kind = this.#startable(base, id, delivery === 1, now) ? 'unknown' : 'discard';
      else if (record.state === 'cancelled') kind = 'discard';
      else if (!spec) kind = 'unknown';
      else if (i >= request.start) kind = 'held';
      else if (isSpent(record, lease, spec)) kind = 'spent';
      else {
        kind = 'started';
        attempt = this.#start(id, record, lease, now, log);
      }
      if (kind === 'discard') this.#discard(base, id, lease, now);
      else tasks.push({ kind, lease, id, delivery, payload, attempt, ...(meta === undefined ? {} : { meta }) });
    });
    this.#finishStep(base, log);
    return { tasks, nextDueMs: -1, cursor: '' };
  }

  async waitThenClaim(
    base: string,
    cursor: string,
    timeoutMs: number,
    request: ClaimRequest,
    signal: AbortSignal,
  ): Promise<ClaimResult | undefined> {
    await waitOnSignals(this.#core.signals, base, cursor, timeoutMs, signal);
    return signal.aborted ? undefined : this.claim(base, request);
  }

  async settle(base: string, ops: readonly SettleOp[], specList: readonly TaskSpec[]): Promise<SettleOutcome[]> {
    const now = this.#core.now();
    const specs = new Map(specList.map((spec) => [spec.name, spec]));
    const log = new StepLog();
    const outcomes = ops.map((op) => answer(op, this.#settleOne(base, op, specs, now, log)));
    this.#finishStep(base, log);
    return outcomes;
  }

  async refresh(base: string, leases: readonly string[], leaseMs: number): Promise<Set<string>> {
    const now = this.#core.now();
    return new Set(this.#core.queue(base).refresh(collectLeases('leases', leases), leaseMs, now, this.#core.queue(deadBase(base))));
  }

  async read(base: string, taskId: string): Promise<TaskRecord | undefined> {
    const now = this.#core.now();
    const record = this.#data.pending.get(base)?.get(taskId);
    if (record && record.state !== 'cancelled') {
      const { state, attempt, at, task, error } = record;
      return { state, attempt, task, item: taskId, at, ...(error === undefined ? {} : { error }), hasResult: false };
    }
    const finished = this.#data.finished.get(finishedKey(base, taskId), now);
    return finished ? { ...finished, item: taskId } : undefined;
  }

  async result(base: string, taskId: string): Promise<string | undefined> {
    return this.#data.results.get(finishedKey(base, taskId), this.#core.now());
  }

  async cancel(base: string, taskId: string, keepMs: number): Promise<boolean> {
    const now = this.#core.now();
    const record = this.#data.pending.get(base)?.get(taskId);
    if (!record || (record.state !== 'queued' && record.state !== 'delayed')) return false;
    // the item stays in the queue until a claim discards it; the record says cancelled
    // now, and is kept until then (and keepMs more), as on Redis
    record.state = 'cancelled';
    record.at = now;
    // it will not run: a key it held until done is free now
    this.#core.queue(base).dedupe.releaseId(taskId);
    record.keepMs = keepMs;
    this.#data.finished.set(finishedKey(base, taskId), this.#cancelled(record, now), Number.POSITIVE_INFINITY);
    const log = new StepLog();
    log.changed(taskId, 'cancelled', record.task, false, -1);
    this.#finishStep(base, log);
    return true;
  }

  async schedule(base: string, name: string, mode: ScheduleMode, seenDue: number, nextDue: number): Promise<ScheduleClaim> {
    const now = this.#core.now();
    const key = finishedKey(base, name);
    const due = this.#data.schedules.get(key) ?? -1;
    if (mode === 'init' && due < 0) {
      this.#data.schedules.set(key, nextDue);
      return { claimed: false, due: nextDue, now };
    }
    if (mode === 'read' || mode === 'init' || due !== seenDue || due < 0 || (mode === 'fire' && now < due)) {
      return { claimed: false, due, now };
    }
    this.#data.schedules.set(key, nextDue);
    return { claimed: mode === 'fire', due: nextDue, now };
  }

  async recentFailures(base: string, count: number): Promise<TaskFailure[]> {
    return (this.#data.failures.get(base) ?? []).slice(0, count);
  }

  async taskMetrics(base: string): Promise<Record<string, number>> {
    return Object.fromEntries(this.#data.metrics.get(base) ?? []);
  }

  async listen(base: string, listener: TaskEventListener): Promise<() => Promise<void>> {
    let listeners = this.#data.listeners.get(base);
    if (!listeners) {
      listeners = new Set();
      this.#data.listeners.set(base, listeners);
    }
    listeners.add(listener);
    return async () => {
      listeners.delete(listener);
    };
  }

  async close(): Promise<void> {
    // the records belong to the MemoryStore, which outlives any one app
  }

  /**
   * Whether an item without a pending record may start: not when its task has finished
   * (done, cancelled, or failed — but for a failed task's redriven dead letter, delivered
   * for the first time since, which starts afresh).
   */
  #startable(base: string, taskId: string, firstDelivery: boolean, now: number): boolean {
    const finished = this.#data.finished.get(finishedKey(base, taskId), now);
    return !finished || (finished.state === 'failed' && firstDelivery);
  }

  /** Starts a run under `lease`: the record counts it. Returns its number. */
  #start(taskId: string, record: PendingRecord, lease: string, now: number, log: StepLog): number {
    record.state = 'started';
    record.attempt += 1;
    record.at = now;
    record.lease = lease;
    // the item stays under the lease it has: the worker keeps a running task's lease at
    // its own visibility timeout
    log.changed(taskId, 'started', record.task, false, -1);
    return record.attempt;
  }

  /** Finishes an item without a run; a cancelled task's record is kept for its time from now. */
  #discard(base: string, taskId: string, lease: string, now: number): void {
    this.#core.queue(base).done(groupsOf(lease), now);
    const records = this.#pending(base);
    const record = records.get(taskId);
    if (record?.state !== 'cancelled') return;
    records.delete(taskId);
    this.#data.finished.set(finishedKey(base, taskId), this.#cancelled(record, now), now + (record.keepMs ?? 0));
  }

  #cancelled(record: PendingRecord, now: number): FinishedRecord {
    const { attempt, task, error } = record;
    return { state: 'cancelled', attempt, at: now, task, ...(error === undefined ? {} : { error }), hasResult: false };
  }

  /** Ends a task's record as finished; the item is settled by the caller. */
  #finish(base: string, taskId: string, finished: FinishedRecord, keepMs: number, now: number): void {
    this.#pending(base).delete(taskId);
    this.#data.finished.set(finishedKey(base, taskId), finished, now + keepMs);
  }

  #settleOne(base: string, op: SettleOp, specs: Map<string, TaskSpec>, now: number, log: StepLog): SettleOutcome {
    const queue = this.#core.queue(base);
    const dead = this.#core.queue(deadBase(base));
    const live = queue.isLive(op.lease, now);
    if (op.kind === 'discard') {
      if (live) this.#discard(base, parseLease(op.lease)?.id ?? op.lease, op.lease, now);
      return { applied: live, state: '', attempt: 0 };
    }
    const records = this.#pending(base);
    const record = records.get(op.taskId);
    const state = (): RecordState | '' =>
      records.get(op.taskId)?.state ?? this.#data.finished.get(finishedKey(base, op.taskId), now)?.state ?? '';
    const outcome = (applied: boolean, extra: Partial<SettleOutcome> = {}): SettleOutcome => ({
      applied,
      state: state(),
      attempt: records.get(op.taskId)?.attempt ?? this.#data.finished.get(finishedKey(base, op.taskId), now)?.attempt ?? 0,
      ...extra,
    });
    const settleItem = (how: 'done' | 'keep' | 'count' | 'dead' | 'drop', delayMs = 0): void => {
      if (!live) return;
      const groups = groupsOf(op.lease);
      if (how === 'done') queue.done(groups, now);
      else if (how === 'keep' || how === 'count') queue.release(groups, { kind: how, delayMs }, now, dead);
      else queue.release(groups, { kind: 'fail', useDead: how === 'dead' }, now, dead);
    };

    switch (op.kind) {
      case 'start': {
        const spec = specs.get(op.task);
        if (!live || !spec) return outcome(false);
        if (!record) {
          if (!this.#startable(base, op.taskId, op.firstDelivery, now)) {
            settleItem('done');
            return outcome(false);
          }
          // no record to start from: a redriven dead letter or a record lost; a fresh start
          const fresh: PendingRecord = { state: 'queued', attempt: 0, at: now, task: op.task, lease: '' };
          records.set(op.taskId, fresh);
          this.#data.finished.delete(finishedKey(base, op.taskId));
          this.#start(op.taskId, fresh, op.lease, now, log);
          return outcome(true);
        }
        if (record.state === 'cancelled') {
          this.#discard(base, op.taskId, op.lease, now);
          return outcome(false);
        }
        // the same start sent again: acknowledged, no run counted
        if (record.state === 'started' && record.lease === op.lease) return outcome(true);
        if (isSpent(record, op.lease, spec)) {
          const error = 'the worker running the last attempt stopped before it finished';
          return this.#fail(base, op.taskId, record, error, -1, spec.useDead, spec.finishedKeepMs, now, log, settleItem);
        }
        this.#start(op.taskId, record, op.lease, now, log);
        return outcome(true);
      }
      case 'done': {
        const spec = specs.get(op.task);
        // a finished run is never thrown away: done from any state but a final one
        if (record && record.state !== 'cancelled') {
          const hasResult = op.result !== undefined && op.result !== '';
          if (hasResult) this.#data.results.set(finishedKey(base, op.taskId), op.result as string, now + (spec?.resultMs ?? 0));
          const { attempt, task, error } = record;
          const finished = { state: 'done', attempt, at: now, task, ...(error === undefined ? {} : { error }), hasResult } as const;
          this.#finish(base, op.taskId, finished, spec?.finishedKeepMs ?? 0, now);
          log.changed(op.taskId, 'done', task, false, op.runMs);
          settleItem('done');
          return outcome(true);
        }
        settleItem('done');
        return outcome(false);
      }
      case 'retry': {
        if (record?.state === 'started' && record.attempt === op.attempt) {
          const delayMs = specs.get(record.task)?.retryDelayMs ?? 0;
          const next = delayMs > 0 ? 'delayed' : 'queued';
          record.state = next;
          record.at = now;
          record.lease = '';
          record.error = op.error;
          log.changed(op.taskId, next, record.task, true, op.runMs);
          log.failed(record.task, op.taskId, op.error, record.attempt, false, now);
          settleItem('count', delayMs);
          return outcome(true);
        }
        // finished meanwhile (or never a task of ours): the item has nothing left to do
        if (!record || record.state === 'cancelled') settleItem('done');
        return outcome(false);
      }
      case 'fail': {
        const spec = specs.get(op.task);
        if (op.forceDead) {
          settleItem('dead');
          return outcome(live, { deadLettered: live });
        }
        const pending = record?.state === 'queued' || record?.state === 'delayed';
        if (record && (record.state === 'started' || pending) && record.attempt === op.attempt) {
          const useDead = spec?.useDead ?? false;
          return this.#fail(base, op.taskId, record, op.error, op.runMs, useDead, spec?.finishedKeepMs ?? 0, now, log, settleItem);
        }
        if (!record || record.state === 'cancelled') settleItem('done');
        return outcome(false);
      }
      case 'handBack': {
        if (op.unstart && record?.state === 'started' && record.lease === op.lease) {
          // the run never began: as if the claim had not started it
          record.state = 'queued';
          record.attempt -= 1;
          record.lease = '';
          this.#count(base, [[`${record.task}|started`, -1]]);
        }
        settleItem('keep', op.delayMs);
        return outcome(live);
      }
    }
  }

  /** Fails a task for good: record failed, item dead-lettered or dropped, in one step. */
  #fail(
    base: string,
    taskId: string,
    record: PendingRecord,
    error: string,
    runMs: number,
    useDead: boolean,
    keepMs: number,
    now: number,
    log: StepLog,
    settleItem: (how: 'dead' | 'drop') => void,
  ): SettleOutcome {
    const { attempt, task } = record;
    this.#finish(base, taskId, { state: 'failed', attempt, at: now, task, error, hasResult: false }, keepMs, now);
    log.changed(taskId, 'failed', task, false, runMs);
    log.failed(task, taskId, error, attempt, true, now);
    settleItem(useDead ? 'dead' : 'drop');
    return { applied: true, state: 'failed', attempt, deadLettered: useDead };
  }

  #count(base: string, counts: readonly [string, number][]): void {
    if (counts.length === 0) return;
    let metrics = this.#data.metrics.get(base);
    if (!metrics) {
      metrics = new Map();
      this.#data.metrics.set(base, metrics);
    }
    for (const [field, n] of counts) metrics.set(field, (metrics.get(field) ?? 0) + n);
  }

  /** Counts a step's metrics and tells its listeners, as the scripts' one HINCRBY and PUBLISH per call. */
  #finishStep(base: string, log: StepLog): void {
    this.#count(base, log.counts);
    if (log.failures.length > 0) {
      const kept = [...log.failures].reverse().concat(this.#data.failures.get(base) ?? []);
      this.#data.failures.set(base, kept.slice(0, FAILURES_KEPT));
    }
    const now = this.#core.now();
    this.#data.finished.sweep(now);
    this.#data.results.sweep(now);
    const listeners = this.#data.listeners.get(base);
    if (!listeners || log.events.length === 0) return;
    const events = log.events.map(({ taskId, state }) => ({ kind: 'change', taskId, state }) as const);
    // delivered asynchronously, as pub/sub would be, so a listener never runs inside a step
    queueMicrotask(() => {
      for (const event of events) for (const listener of listeners) listener(event);
    });
  }
}

/**
 * What a settle op answers, as the Redis script does: the state after an applied change
 * (none for a discard or a hand-back), and the run number of a start or a failure.
 */
function answer(op: SettleOp, outcome: SettleOutcome): SettleOutcome {
  if (!outcome.applied) {
    // the same failure sent again: the task failed at that run
    const repeat = op.kind === 'fail' && !op.forceDead && outcome.state === 'failed' && outcome.attempt === op.attempt;
    return repeat ? { applied: false, state: 'failed', attempt: op.attempt } : { applied: false, state: '', attempt: 0 };
  }
  if (op.kind === 'discard' || op.kind === 'handBack') return { applied: true, state: '', attempt: 0 };
  if (op.kind === 'fail' && op.forceDead) return { applied: true, state: 'failed', attempt: 0, deadLettered: true };
  const counted = outcome.state === 'started' || outcome.state === 'failed';
  return {
    applied: true,
    state: outcome.state,
    attempt: counted ? outcome.attempt : 0,
    ...(outcome.state === 'failed' ? { deadLettered: outcome.deadLettered === true } : {}),
  };
}

/**
 * Whether starting `record` under `lease` finds its runs spent: an earlier delivery
 * started a run that never ended (its worker died or hung past its lease), and either it
 * was the last run allowed or the task runs at most once.
 */
function isSpent(record: PendingRecord, lease: string, spec: TaskSpec): boolean {
  return record.state === 'started' && record.lease !== lease && (spec.visTimeoutMs === 0 || record.attempt >= spec.attempts);
}
