/**
 * The task side of the PostgresStore: each step is one SQL statement on the queue's rows
 * and its tasks' records (sql/tasks/*.ts), so an enqueue, a claim that starts what it
 * reads, and a settle of many runs are one statement each (a settle whose ops name one
 * task twice runs as a few statements in one transaction). Task events travel by
 * LISTEN/NOTIFY on one channel per task queue, heard on one connection per app.
 */
import { createHash } from 'node:crypto';
import { clockArg } from '../../data/clock.js';
import type { DedupeRequest, PutResult } from '../../data/dedupe.js';
import { dedupeEnqueueStatement } from './sql/dedupe.js';
import { deadBase } from '../../data/keys.js';
import { collectLeases, parseLease } from '../../data/lease.js';
import { MAX_ATTEMPTS } from '../../data/options.js';
import { cutUtf8, FAILURE_ERROR_BYTES, type RecordState, type TaskEventListener, type TaskFailure, type TaskRecord } from '../../tasks/records.js';
import { ChannelListeners } from '../../tasks/channel-listeners.js';
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
import { PostgresQueueBackend, TOKEN, withMeta } from './backend.js';
import { toStoreError, type ListenClient, type Row, type Statement } from './connection.js';
import { PostgresEventFeed } from './event-feed.js';
import { toStored } from './names.js';
import { gatedRead, limitCursor, waitOnCursor } from './limits.js';
import type { Tables } from './sql/lib.js';
import { cancelStatement } from './sql/tasks/cancel.js';
import { claimStatement } from './sql/tasks/claim.js';
import { enqueueStatement } from './sql/tasks/enqueue.js';
import { failuresStatement, metricsStatement } from './sql/tasks/metrics.js';
import { readStatement, resultStatement } from './sql/tasks/read.js';
import { scheduleStatement } from './sql/tasks/schedule.js';
import { settleStatement } from './sql/tasks/settle.js';
import type { StoreCore } from './store.js';

/** Longest channel name PostgreSQL takes (NAMEDATALEN - 1), in bytes. */
const MAX_CHANNEL_BYTES = 63;

/**
 * The task event channel of the queue at `base` (stored form) in `schema`:
 * `<schema>:tasks:<base>` when it fits in a channel name, else a hash of both.
 */
export function taskChannel(schema: string, base: string): string {
  const readable = `${schema}:tasks:${base}`;
  if (Buffer.byteLength(readable) <= MAX_CHANNEL_BYTES) return readable;
  return `visq:tasks:${createHash('sha1').update(`${schema}\u0000${base}`).digest('hex')}`;
}

/** The specs as the statements take them (sql/tasks/lib.ts specs), per specs list (the app keeps one per queue). */
const specJsonCache = new WeakMap<readonly TaskSpec[], string>();

function specJson(specs: readonly TaskSpec[]): string {
  let json = specJsonCache.get(specs);
  if (json === undefined) {
    json = JSON.stringify(
      specs.map((spec) => ({
        name: spec.name,
        attempts: spec.attempts,
        vis_ms: spec.visTimeoutMs,
        use_dead: spec.useDead,
        keep_ms: spec.finishedKeepMs,
        result_ms: spec.resultMs,
        retry_ms: spec.retryDelayMs,
      })),
    );
    specJsonCache.set(specs, json);
  }
  return json;
}

const KINDS: Record<string, ClaimedTask['kind']> = { start: 'started', held: 'held', unknown: 'unknown', spent: 'spent' };

const OP_KINDS: Record<SettleOp['kind'], string> = {
  start: 'start',
  done: 'done',
  retry: 'retry',
  fail: 'fail',
  discard: 'discard',
  handBack: 'handBack',
};

/** The settle statement's op arrays ($7..$19), one element per op. */
class OpArrays {
  readonly kind: string[] = [];
  readonly item: (string | null)[] = [];
  readonly token: (string | null)[] = [];
  readonly taskId: string[] = [];
  readonly task: (string | null)[] = [];
  readonly first: boolean[] = [];
  readonly attempt: number[] = [];
  readonly runMs: number[] = [];
  readonly result: (string | null)[] = [];
  readonly error: (string | null)[] = [];
  readonly cut: (string | null)[] = [];
  readonly unstart: boolean[] = [];
  readonly delayMs: number[] = [];

  push(op: SettleOp, lease: { item: string | null; token: string | null }, taskId: string): void {
    this.kind.push(op.kind === 'fail' && op.forceDead === true ? 'dead' : OP_KINDS[op.kind]);
    this.item.push(lease.item);
    this.token.push(lease.token);
    this.taskId.push(taskId);
    this.task.push('task' in op ? op.task : null);
    this.first.push(op.kind === 'start' && op.firstDelivery);
    this.attempt.push('attempt' in op ? op.attempt : 0);
    this.runMs.push('runMs' in op ? op.runMs : -1);
    this.result.push(op.kind === 'done' && op.result !== undefined && op.result !== '' ? op.result : null);
    const error = op.kind === 'retry' || op.kind === 'fail' ? op.error : null;
    this.error.push(error);
    this.cut.push(error === null ? null : cutUtf8(error, FAILURE_ERROR_BYTES));
    this.unstart.push(op.kind === 'handBack' && op.unstart);
    this.delayMs.push(op.kind === 'handBack' ? op.delayMs : 0);
  }

  values(): unknown[] {
    return [
      this.kind,
      this.item,
      this.token,
      this.taskId,
      this.task,
      this.first,
      this.attempt,
      this.runMs,
      this.result,
      this.error,
      this.cut,
      this.unstart,
      this.delayMs,
    ];
  }
}

/** The item and lease token a lease names, both null when it cannot be a live lease. */
function leaseParts(lease: string): { item: string | null; token: string | null } {
  const parts = parseLease(lease);
  if (!parts || !TOKEN.test(parts.entry) || parts.id.includes('\u0000')) return { item: null, token: null };
  return { item: parts.id, token: parts.entry };
}

/**
 * Splits ops into rounds in which no task and no item comes twice, keeping the order of
 * the ops of each task and item: round n of an op is one after the last round of an
 * earlier op on its task or item.
 */
function rounds(ops: readonly SettleOp[]): { ops: SettleOp[]; indexes: number[] }[] {
  const out: { ops: SettleOp[]; indexes: number[] }[] = [];
  const lastRound = new Map<string, number>();
  ops.forEach((op, index) => {
    const { item } = leaseParts(op.lease);
    const keys = [`t${taskIdOf(op)}`, ...(item === null ? [] : [`i${item}`])];
    const round = Math.max(-1, ...keys.map((key) => lastRound.get(key) ?? -1)) + 1;
    for (const key of keys) lastRound.set(key, round);
    out[round] ??= { ops: [], indexes: [] };
    out[round].ops.push(op);
    out[round].indexes.push(index);
  });
  return out;
}

/** The task id an op is about: a discard names only its lease, whose item id is the task id. */
function taskIdOf(op: SettleOp): string {
  return op.kind === 'discard' ? (parseLease(op.lease)?.id ?? op.lease) : op.taskId;
}

function outcomeOf(row: Row): SettleOutcome {
  return {
    applied: row.applied === true,
    state: (row.state as RecordState | '') ?? '',
    attempt: Number(row.attempt ?? 0),
    deadLettered: row.dead === true,
  };
}

export class PostgresTaskStore implements TaskStore {
  readonly #core: StoreCore;
  readonly #openFeed: () => ListenClient;
  #feed: PostgresEventFeed | undefined;
  readonly #listeners = new ChannelListeners();

  /** @param openFeed - a new, unconnected client for the task event connection. */
  constructor(core: StoreCore, openFeed: () => ListenClient) {
    this.#core = core;
    this.#openFeed = openFeed;
  }

  #statement(name: string, stored: string, build: (t: Tables) => string): { stmt: Statement; tables: Tables } {
    const tables = this.#core.tables(stored);
    return { stmt: this.#core.statement(`${name}:${tables.items}`, () => build(tables)), tables };
  }

  #clock(): string {
    return clockArg(this.#core.clockKey);
  }

  async enqueueDeduped(base: string, request: EnqueueRequest, dedupe: DedupeRequest): Promise<PutResult[]> {
    const extra = [dedupe.keys, dedupe.until === 'done', dedupe.windowMs];
    const rows = await this.#enqueueRows(base, request, ['tasks/enqueue-dedupe', dedupeEnqueueStatement], extra, (row) => row.duplicate !== true);
    return rows.map((row) => ({ id: row.id as string, duplicate: row.duplicate === true }));
  }

  async enqueue(base: string, request: EnqueueRequest): Promise<boolean[]> {
    const rows = await this.#enqueueRows(base, request, ['tasks/enqueue', enqueueStatement], [], (row) => row.written === true);
    return rows.map((row) => row.written === true);
  }

  /**
   * Runs an enqueue statement (plain or deduplicated: `extra` values after the common
   * nine) and announces the tasks put; `put(row)` tells whether a row's task was put.
   */
  async #enqueueRows(
    base: string,
    request: EnqueueRequest,
    [name, build]: [string, (t: Tables) => string],
    extra: readonly unknown[],
    put: (row: Row) => boolean,
  ): Promise<Row[]> {
    if (request.tasks.length === 0) return [];
    const stored = toStored(base);
    const { db } = request;
    const visible = request.delayMs <= 0;
    const notify = db !== undefined ? visible : visible && this.#core.announcer.claim(stored);
    const { stmt } = this.#statement(name, stored, build);
    const values = [
      this.#clock(),
      stored,
      request.delayMs,
      request.priority,
      request.task,
      request.tasks.map((t) => t.taskId),
      request.tasks.map((t) => t.payload),
      notify,
      request.meta ?? '',
      ...extra,
    ];
    const rows = await this.#core.run(stmt, values, 'enqueuing tasks', db);
    if (visible && db === undefined && rows.some(put)) this.#core.shown(stored, notify);
    return rows;
  }

  async claim(base: string, request: ClaimRequest): Promise<ClaimResult> {
    const stored = toStored(base);
    // taken before the statement is sent: a wake-up heard while it runs then counts
    const cursor = this.#core.wakeups.cursor(stored);
    const held = limitCursor(this.#core, stored);
    const { stmt, tables } = this.#statement('tasks/claim', stored, claimStatement);
    const values = (count: number): unknown[] => [
      this.#clock(),
      stored,
      deadBase(stored),
      count,
      Math.min(request.start, count),
      request.leaseMs,
      request.token,
      MAX_ATTEMPTS,
      specJson(request.specs),
      taskChannel(this.#core.schema, stored),
    ];
    let rows: Row[];
    if (request.limits) {
      const gated = await gatedRead(
        this.#core,
        tables,
        stored,
        this.#clock(),
        request.count,
        request.limits,
        'claiming tasks',
        (allowed, query) => query(stmt, values(allowed)),
        (got) => got.filter((row) => row.kind !== 'none').length,
      );
      if ('limited' in gated) {
        return { tasks: [], nextDueMs: gated.waitMs, cursor: gated.limited === 'rate' ? '' : held, limited: gated.limited };
      }
      rows = gated.rows;
    } else {
      rows = await this.#core.run(stmt, values(request.count), 'claiming tasks');
    }
    const first = rows[0];
    if (first?.limited === 'p') return { tasks: [], nextDueMs: Number(first.next_due), cursor: held, limited: 'paused' };
    if (!first || first.kind === 'none') return { tasks: [], nextDueMs: Number(first?.next_due ?? -1), cursor };
    const tasks = rows.map(
      (row): ClaimedTask => ({
        kind: KINDS[row.kind as string] as ClaimedTask['kind'],
        lease: `${row.id as string}:${row.lease as string}`,
        id: row.id as string,
        delivery: Number(row.delivery),
        payload: row.payload as string,
        ...withMeta(row),
        attempt: Number(row.attempt),
      }),
    );
    return { tasks, nextDueMs: -1, cursor: '' };
  }

  async waitThenClaim(
    base: string,
    cursor: string,
    timeoutMs: number,
    request: ClaimRequest,
    signal: AbortSignal,
  ): Promise<ClaimResult | undefined> {
    if (this.#core.closed) return undefined;
    await waitOnCursor(this.#core, toStored(base), cursor, timeoutMs, signal);
    if (signal.aborted || this.#core.closed) return undefined;
    const claimed = await this.claim(base, request);
    if (!signal.aborted || claimed.tasks.length === 0) return claimed;
    // aborted while the claim ran: what it took goes back, its starts taken back
    const ops = claimed.tasks.map(
      (task): SettleOp => ({ kind: 'handBack', lease: task.lease, taskId: task.id, unstart: task.kind === 'started', delayMs: 0 }),
    );
    await this.settle(base, ops, request.specs);
    return undefined;
  }

  async settle(base: string, ops: readonly SettleOp[], specs: readonly TaskSpec[]): Promise<SettleOutcome[]> {
    if (ops.length === 0) return [];
    const stored = toStored(base);
    const { stmt } = this.#statement('tasks/settle', stored, settleStatement);
    // items become visible again only through retries and hand-backs
    const mayShow = ops.some((op) => op.kind === 'retry' || op.kind === 'handBack');
    const notify = mayShow && this.#core.announcer.claim(stored);
    const head = [this.#clock(), stored, deadBase(stored), specJson(specs), taskChannel(this.#core.schema, stored), notify];
    const valuesOf = (batch: readonly SettleOp[]): unknown[] => {
      const arrays = new OpArrays();
      for (const op of batch) arrays.push(op, leaseParts(op.lease), taskIdOf(op));
      return [...head, ...arrays.values()];
    };
    const split = rounds(ops);
    const outcomes: SettleOutcome[] = new Array<SettleOutcome>(ops.length);
    let visible = false;
    const take = (rows: Row[], indexes: readonly number[]): void => {
      rows.forEach((row, i) => {
        outcomes[indexes[i] as number] = outcomeOf(row);
        if (row.visible === true) visible = true;
      });
    };
    if (split.length === 1) {
      take(await this.#core.run(stmt, valuesOf(ops), 'settling tasks'), split[0]?.indexes ?? []);
    } else {
      await this.#core.transaction('settling tasks', async (query) => {
        for (const round of split) take(await query(stmt, valuesOf(round.ops)), round.indexes);
      });
    }
    if (visible) this.#core.shown(stored, notify);
    return outcomes;
  }

  async refresh(base: string, leases: readonly string[], leaseMs: number): Promise<Set<string>> {
    const backend = new PostgresQueueBackend(this.#core, toStored(base));
    return new Set(await backend.refresh(collectLeases('leases', leases), leaseMs));
  }

  async read(base: string, taskId: string): Promise<TaskRecord | undefined> {
    // PostgreSQL text holds no NUL: no task has such an id
    if (taskId.includes('\u0000')) return undefined;
    const { stmt } = this.#statement('tasks/read', toStored(base), readStatement);
    const [row] = await this.#core.run(stmt, [this.#clock(), toStored(base), taskId], 'reading a task');
    if (!row) return undefined;
    const error = row.error as string | null;
    return {
      state: row.state as RecordState,
      attempt: Number(row.attempt),
      task: row.task as string,
      item: taskId,
      at: Number(row.at),
      ...(error === null ? {} : { error }),
      hasResult: row.has_result === true,
    };
  }

  async result(base: string, taskId: string): Promise<string | undefined> {
    if (taskId.includes('\u0000')) return undefined;
    const { stmt } = this.#statement('tasks/result', toStored(base), resultStatement);
    const [row] = await this.#core.run(stmt, [this.#clock(), toStored(base), taskId], 'reading a task result');
    return (row?.result as string | undefined) ?? undefined;
  }

  async cancel(base: string, taskId: string, keepMs: number): Promise<boolean> {
    if (taskId.includes('\u0000')) return false;
    const stored = toStored(base);
    const { stmt } = this.#statement('tasks/cancel', stored, cancelStatement);
    const values = [this.#clock(), stored, taskId, keepMs, taskChannel(this.#core.schema, stored)];
    const [row] = await this.#core.run(stmt, values, 'cancelling a task');
    return row?.cancelled === true;
  }

  async schedule(base: string, name: string, mode: ScheduleMode, seenDue: number, nextDue: number): Promise<ScheduleClaim> {
    const stored = toStored(base);
    const { stmt } = this.#statement('tasks/schedule', stored, scheduleStatement);
    const values = [this.#clock(), stored, toStored(name), mode, seenDue, nextDue];
    const [row] = await this.#core.run(stmt, values, 'claiming a schedule');
    return { claimed: row?.claimed === true, due: Number(row?.due ?? -1), now: Number(row?.now ?? 0) };
  }

  async taskMetrics(base: string): Promise<Record<string, number>> {
    const stmt = this.#core.statement('tasks/metrics', () => metricsStatement(this.#core.quoted));
    const rows = await this.#core.run(stmt, [toStored(base)], 'reading task metrics');
    return Object.fromEntries(rows.map((row) => [row.field as string, Number(row.value)]));
  }

  async recentFailures(base: string, count: number): Promise<TaskFailure[]> {
    const stmt = this.#core.statement('tasks/failures', () => failuresStatement(this.#core.quoted));
    const rows = await this.#core.run(stmt, [toStored(base), count], 'reading recent task failures');
    return rows.map((row) => ({
      taskId: row.task_id as string,
      task: row.task as string,
      item: row.task_id as string,
      error: row.error as string,
      attempt: Number(row.attempt),
      final: row.final === true,
      at: Number(row.at),
    }));
  }

  async listen(base: string, listener: TaskEventListener): Promise<() => Promise<void>> {
    try {
      return await this.#listeners.add(this.#ensureFeed(), taskChannel(this.#core.schema, toStored(base)), listener);
    } catch (error) {
      throw toStoreError(error, 'listening for task events');
    }
  }

  #ensureFeed(): PostgresEventFeed {
    this.#feed ??= new PostgresEventFeed(this.#openFeed, {
      // one NOTIFY carries changes of one statement, a line "<task id> <state>" each
      message: (channel, payload) => {
        if (!this.#listeners.has(channel)) return;
        for (const line of payload.split('\n')) {
          const space = line.lastIndexOf(' ');
          this.#listeners.emit(channel, { kind: 'change', taskId: line.slice(0, space), state: line.slice(space + 1) as RecordState });
        }
      },
      // NOTIFYs sent while the connection was away are lost: waiters read their task again
      reconnected: () => this.#listeners.reconnected(),
    });
    return this.#feed;
  }

  async close(): Promise<void> {
    this.#listeners.clear();
    const feed = this.#feed;
    this.#feed = undefined;
    await feed?.close();
  }
}
