/**
 * Task records kept in process, for apps on a MemoryStore. Same state machine as
 * src/stores/redis/scripts/tasks/task_transitions.lua, same clock (the MemoryStore's test hook).
 * Records of one MemoryStore are shared by every app using it.
 */
import { clockNow } from '../../data/clock.js';
import { transitionIncrements } from '../../tasks/metrics.js';
import {
  cutUtf8,
  FAILURE_ERROR_BYTES,
  FAILURES_KEPT,
  type NewTask,
  type RecordState,
  type ScheduleClaim,
  type ScheduleMode,
  type TaskEventListener,
  type TaskFailure,
  type TaskRecord,
  type TaskRecordStore,
  type Transition,
  type TransitionResult,
} from '../../tasks/records.js';

interface Expiring<T> {
  value: T;
  expiresAt: number;
}

interface StoredRecord {
  state: RecordState;
  attempt: number;
  task: string;
  item: string;
  at: number;
  error?: string;
  hasResult: boolean;
  /** The lease of the delivery the current run started under. */
  lease?: string;
}

class MemoryRecordData {
  readonly records = new Map<string, Expiring<StoredRecord>>();
  readonly results = new Map<string, Expiring<string>>();
  readonly schedules = new Map<string, number>();
  /** Per queue base: the task metrics hash, as task_transitions.lua keeps it. */
  readonly metrics = new Map<string, Map<string, number>>();
  /** Per queue base: the latest failed runs, newest first, at most FAILURES_KEPT. */
  readonly failures = new Map<string, TaskFailure[]>();
  readonly listeners = new Map<string, Set<TaskEventListener>>();
}

const dataByStore = new WeakMap<object, MemoryRecordData>();

function live<T>(map: Map<string, Expiring<T>>, key: string, now: number): T | undefined {
  const entry = map.get(key);
  if (!entry) return undefined;
  if (entry.expiresAt <= now) {
    map.delete(key);
    return undefined;
  }
  return entry.value;
}

/** What task_transitions.lua decides for one record: the change to apply, or none. */
export function decideTransition(
  record: StoredRecord | undefined,
  change: Transition,
): { to: RecordState; attempt: number; error?: string; keepMs: number; repeated?: boolean } | undefined {
  const state = record?.state;
  if (change.to === 'started' && state === 'started' && change.lease && record?.lease === change.lease) {
    // the same delivery's start sent again: acknowledged, no run counted
    return { to: 'started', attempt: record.attempt, keepMs: change.keepMs, repeated: true };
  }
  let current = record?.attempt ?? 0;
  const final = state === 'done' || state === 'failed' || state === 'cancelled';
  const pending = state === 'queued' || state === 'delayed';
  const keep = { keepMs: change.keepMs, ...(change.error ? { error: change.error } : {}) };
  switch (change.to) {
    case 'started': {
      const redriven = state === 'failed' && change.firstDelivery === true;
      if (redriven) current = 0;
      else if (final) return undefined;
      else if (state === 'started' && current >= (change.attempts ?? 0)) {
        // the last allowed run was interrupted: the runs are spent
        return {
          to: 'failed',
          attempt: current,
          error: 'the worker running the last attempt stopped before it finished',
          keepMs: change.spentKeepMs ?? change.keepMs,
        };
      }
      return { to: 'started', attempt: current + 1, ...keep };
    }
    case 'queued':
    case 'delayed':
      return !final && state === 'started' && change.attempt === current ? { to: change.to, attempt: current, ...keep } : undefined;
    case 'done':
      return final ? undefined : { to: 'done', attempt: current, ...keep };
    case 'failed':
      return !final && change.attempt === current && (state === 'started' || pending)
        ? { to: 'failed', attempt: current, ...keep }
        : undefined;
    case 'cancelled':
      return pending ? { to: 'cancelled', attempt: current, ...keep } : undefined;
  }
}

export class MemoryTaskRecords implements TaskRecordStore {
  readonly #clockKey: object;
  readonly #data: MemoryRecordData;

  /** @param store - the MemoryStore whose clock and records these are. */
  constructor(store: object) {
    this.#clockKey = store;
    let data = dataByStore.get(store);
    if (!data) {
      data = new MemoryRecordData();
      dataByStore.set(store, data);
    }
    this.#data = data;
  }

  async create(base: string, state: 'queued' | 'delayed', keepMs: number, tasks: readonly NewTask[]): Promise<number> {
    const now = clockNow(this.#clockKey);
    let written = 0;
    for (const t of tasks) {
      const key = `${base}:${t.taskId}`;
      if (live(this.#data.records, key, now)) continue;
      this.#data.records.set(key, {
        value: { state, attempt: 0, task: t.task, item: '', at: now, hasResult: false },
        expiresAt: now + keepMs,
      });
      written += 1;
    }
    return written;
  }

  async discard(base: string, taskIds: readonly string[]): Promise<void> {
    for (const taskId of taskIds) this.#data.records.delete(`${base}:${taskId}`);
  }

  async transitionMany(base: string, changes: readonly Transition[]): Promise<TransitionResult[]> {
    return changes.map((change) => this.#transition(base, change));
  }

  #transition(base: string, change: Transition): TransitionResult {
    const now = clockNow(this.#clockKey);
    const key = `${base}:${change.taskId}`;
    const record = live(this.#data.records, key, now);
    const decided = decideTransition(record, change);
    if (!decided) return { applied: false, state: record?.state ?? '', attempt: record?.attempt ?? 0 };
    if (decided.repeated) return { applied: true, state: 'started', attempt: decided.attempt };
    const next: StoredRecord = record
      ? { ...record, state: decided.to, at: now, attempt: decided.attempt }
      : { state: decided.to, attempt: decided.attempt, task: change.task, item: '', at: now, hasResult: false };
    if (decided.error) next.error = decided.error;
    if (decided.to === 'started' && change.lease) next.lease = change.lease;
    if (decided.to === 'started' && next.item === '' && change.item) next.item = change.item;
    if (decided.to === 'done' && change.result !== undefined && change.result !== '') {
      this.#data.results.set(key, { value: change.result, expiresAt: now + (change.resultMs ?? 0) });
      next.hasResult = true;
    }
    this.#data.records.set(key, { value: next, expiresAt: now + decided.keepMs });
    const metrics = this.#data.metrics.get(base) ?? new Map<string, number>();
    this.#data.metrics.set(base, metrics);
    const name = change.task !== '' ? change.task : (record?.task ?? '?');
    for (const [field, n] of transitionIncrements(name, decided.to, Boolean(change.error), change.runMs ?? -1)) {
      metrics.set(field, (metrics.get(field) ?? 0) + n);
    }
    if (decided.to === 'failed' || ((decided.to === 'queued' || decided.to === 'delayed') && change.error)) {
      this.#noteFailure(base, {
        taskId: change.taskId,
        task: name,
        item: change.item || (record?.item ?? ''),
        error: cutUtf8(decided.error ?? '', FAILURE_ERROR_BYTES),
        attempt: next.attempt,
        final: decided.to === 'failed',
        at: now,
      });
    }
    const listeners = this.#data.listeners.get(base);
    if (listeners) {
      const event = { kind: 'change', taskId: change.taskId, state: decided.to } as const;
      // delivered asynchronously, as pub/sub would be, so a listener never runs inside a transition
      queueMicrotask(() => {
        for (const listener of listeners) listener(event);
      });
    }
    return { applied: true, state: next.state, attempt: next.attempt };
  }

  #noteFailure(base: string, failure: TaskFailure): void {
    const kept = this.#data.failures.get(base) ?? [];
    kept.unshift(failure);
    kept.length = Math.min(kept.length, FAILURES_KEPT);
    this.#data.failures.set(base, kept);
  }

  async recentFailures(base: string, count: number): Promise<TaskFailure[]> {
    return (this.#data.failures.get(base) ?? []).slice(0, count);
  }

  async taskMetrics(base: string): Promise<Record<string, number>> {
    return Object.fromEntries(this.#data.metrics.get(base) ?? []);
  }

  async read(base: string, taskId: string): Promise<TaskRecord | undefined> {
    const record = live(this.#data.records, `${base}:${taskId}`, clockNow(this.#clockKey));
    return record ? { ...record } : undefined;
  }

  async result(base: string, taskId: string): Promise<string | undefined> {
    return live(this.#data.results, `${base}:${taskId}`, clockNow(this.#clockKey));
  }

  async schedule(base: string, name: string, mode: ScheduleMode, seenDue: number, nextDue: number): Promise<ScheduleClaim> {
    const now = clockNow(this.#clockKey);
    const key = `${base}:${name}`;
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
}
