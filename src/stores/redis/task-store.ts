/**
 * The task side of the Redis store: each step is one Lua script under the queue's hash
 * tag (scripts/tasks/*.lua, built on the data-queue scripts' library, lib/ops.lua), so an
 * enqueue, a claim that starts what it reads, and a settle of many runs are one call
 * each. Task events travel by pub/sub on one subscriber connection per app, shared by all
 * waiters.
 */
import type { DedupeRequest, PutResult } from '../../data/dedupe.js';
import { modeLetter, putDedupeResult } from './dedupe.js';
import { clockArg } from '../../data/clock.js';
import { collectLeases, groupArgs, leaseOf, parseLease } from '../../data/lease.js';
import { MAX_ATTEMPTS } from '../../data/options.js';
import { limitedBy, limitsArg } from '../../data/limits.js';
import type { RecordState, TaskEventListener, TaskFailure, TaskRecord } from '../../tasks/records.js';
import { ChannelListeners } from '../../tasks/channel-listeners.js';
import type {
  ClaimedTask,
  ClaimKind,
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
import { TaskEventFeed } from './event-feed.js';
import { eventsChannel, failuresKey, resultKey, schedulesKey, scriptKeys, taskKeys, taskMetricsKey, tasksKey } from './keys.js';
import { parseRecord } from './record.js';
import { runScript, toStoreError, type RedisConnection } from './scripts/loader.js';
import type { RedisStore } from './store.js';

const STATES: Record<string, RecordState> = {
  q: 'queued',
  d: 'delayed',
  s: 'started',
  D: 'done',
  V: 'done',
  F: 'failed',
  C: 'cancelled',
};

const KINDS: Record<string, ClaimKind> = { s: 'started', h: 'held', u: 'unknown', x: 'spent' };

/**
 * A record's text (see lib/tasks.lua): "<state>|<attempt>|<at>|<x>|<name bytes>|<name><error>",
 * `at` in hexadecimal.
 */
function decodeRecord(text: string, taskId: string): TaskRecord | undefined {
  const match = /^(.)\|(\d+)\|([0-9a-f]+)\|[^|]*\|(\d+)\|/.exec(text);
  const state = match && STATES[match[1] as string];
  if (!match || !state) return undefined;
  // the name's length is in bytes, as Lua counts them
  const tail = Buffer.from(text.slice(match[0].length), 'utf8');
  const nameBytes = Number(match[4]);
  const error = tail.subarray(nameBytes).toString('utf8');
  return {
    state,
    attempt: Number(match[2]),
    task: tail.subarray(0, nameBytes).toString('utf8'),
    item: taskId,
    // ms in hexadecimal
    at: parseInt(match[3] as string, 16),
    ...(error === '' ? {} : { error }),
    hasResult: match[1] === 'V',
  };
}

/** The specs' arguments, per specs list (the app keeps one list per queue). */
const specArgsCache = new WeakMap<readonly TaskSpec[], readonly (string | number)[]>();

/** The specs' arguments: 7 fields each (see lib/tasks.lua read_specs). */
function specArgs(specs: readonly TaskSpec[]): readonly (string | number)[] {
  let args = specArgsCache.get(specs);
  if (!args) {
    const built: (string | number)[] = [specs.length];
    for (const spec of specs) {
      built.push(spec.name, spec.attempts, spec.visTimeoutMs, spec.useDead ? '1' : '0', spec.finishedKeepMs, spec.resultMs, spec.retryDelayMs);
    }
    args = built;
    specArgsCache.set(specs, args);
  }
  return args;
}

/** An op's arguments after its kind and task id (see tasks/settle.lua); a result's key goes to `keys`. */
function opArgs(op: SettleOp, keys: string[], base: string): (string | number)[] {
  switch (op.kind) {
    case 'start':
      return ['S', op.taskId, op.firstDelivery ? '1' : '0', op.task];
    case 'done':
      if (op.result === undefined) return ['D', op.taskId, op.runMs];
      keys.push(resultKey(base, op.taskId));
      return ['V', op.taskId, op.runMs, keys.length, op.result];
    case 'retry':
      return ['R', op.taskId, op.attempt, op.runMs, op.error];
    case 'fail':
      return op.forceDead ? ['Z', op.taskId] : ['F', op.taskId, op.attempt, op.runMs, op.error];
    case 'discard':
      return ['X', parseLease(op.lease)?.id ?? op.lease];
    case 'handBack':
      return ['H', op.taskId, op.unstart ? '1' : '0', op.delayMs];
  }
}

/** What an outcome letter says (see tasks/settle.lua). */
const OUTCOMES: Record<string, Omit<SettleOutcome, 'attempt'> & { readonly counted: boolean }> = {
  s: { applied: true, state: 'started', counted: true },
  r: { applied: true, state: 'queued', counted: false },
  y: { applied: true, state: 'delayed', counted: false },
  d: { applied: true, state: 'done', counted: false },
  f: { applied: true, state: 'failed', deadLettered: false, counted: true },
  g: { applied: true, state: 'failed', deadLettered: true, counted: true },
  a: { applied: true, state: '', counted: false },
  // the same failure sent again: not applied, the task failed at that run
  F: { applied: false, state: 'failed', counted: true },
  '-': { applied: false, state: '', counted: false },
};

/** The settle script's reply: { outcomes, attempts }. */
function outcomesOf(reply: [string, string]): SettleOutcome[] {
  const [letters, attemptList] = reply;
  const attempts = attemptList === '' ? [] : attemptList.split(',');
  let next = 0;
  return [...letters].map((letter) => {
    const { counted, ...outcome } = OUTCOMES[letter] ?? (OUTCOMES['-'] as (typeof OUTCOMES)[string]);
    return { ...outcome, attempt: counted ? Number(attempts[next++]) : 0 };
  });
}

/** The claim script's reply: { wait_ms, cursor } or { -1, '', entry, kinds, attempts, record... }. */
function claimResult(reply: unknown): ClaimResult {
  const [nextDueMs, cursor, entry, kinds, attemptList, ...records] = reply as [number, string, string?, string?, string?, ...string[]];
  if (kinds === undefined) {
    // nothing claimed: { wait_ms, cursor[, reason] } (see get.lua)
    const limited = limitedBy(entry);
    return limited ? { tasks: [], nextDueMs, cursor, limited } : { tasks: [], nextDueMs, cursor };
  }
  const tasks: ClaimedTask[] = [];
  const attempts = attemptList ? attemptList.split(',') : [];
  let next = 0;
  for (let i = 0; i < records.length; i += 1) {
    const letter = (kinds as string)[i] as string;
    const record = parseRecord(records[i] as string);
    const task: ClaimedTask = {
      kind: KINDS[letter] as ClaimKind,
      lease: leaseOf(record.id, entry as string),
      id: record.id,
      delivery: record.deliveries + 1,
      payload: record.payload,
      attempt: letter === 's' || letter === 'x' ? Number(attempts[next++]) : 0,
    };
    tasks.push(record.meta === '' ? task : { ...task, meta: record.meta });
  }
  return { tasks, nextDueMs, cursor };
}

export class RedisTaskStore implements TaskStore {
  readonly #store: RedisStore;
  readonly #redis: RedisConnection;
  #feed: TaskEventFeed | undefined;
  /** The task scripts' keys of each queue, built once (a call passes 29 of them). */
  readonly #keys = new Map<string, readonly string[]>();
  readonly #listeners = new ChannelListeners();

  constructor(store: RedisStore) {
    this.#store = store;
    this.#redis = store.connection;
  }

  #keysOf(base: string): readonly string[] {
    let keys = this.#keys.get(base);
    if (!keys) {
      keys = taskKeys(base);
      this.#keys.set(base, keys);
    }
    return keys;
  }

  async enqueue(base: string, request: EnqueueRequest): Promise<boolean[]> {
    if (request.tasks.length === 0) return [];
    const args: (string | number)[] = [clockArg(this.#redis), request.delayMs, request.priority, request.task, request.meta ?? '', '', 0];
    for (const { taskId, payload } of request.tasks) args.push(taskId, payload);
    const written = (await runScript(this.#redis, 'tasks/enqueue', this.#keysOf(base), args)) as number[];
    return written.map((w) => w === 1);
  }

  async enqueueDeduped(base: string, request: EnqueueRequest, dedupe: DedupeRequest): Promise<PutResult[]> {
    if (request.tasks.length === 0) return [];
    const { delayMs, priority, task, meta = '' } = request;
    const args: (string | number)[] = [clockArg(this.#redis), delayMs, priority, task, meta, modeLetter(dedupe.until), dedupe.windowMs];
    request.tasks.forEach(({ taskId, payload }, i) => args.push(taskId, payload, dedupe.keys[i] as string));
    return putDedupeResult(await runScript(this.#redis, 'tasks/enqueue', this.#keysOf(base), args));
  }

  #claimArgs(base: string, request: ClaimRequest): (string | number)[] {
    return [
      request.count,
      request.start,
      request.leaseMs,
      request.token,
      MAX_ATTEMPTS,
      eventsChannel(base),
      limitsArg(request.limits),
      ...specArgs(request.specs),
    ];
  }

  async claim(base: string, request: ClaimRequest): Promise<ClaimResult> {
    const args = [clockArg(this.#redis), ...this.#claimArgs(base, request)];
    return claimResult(await runScript(this.#redis, 'tasks/claim', this.#keysOf(base), args));
  }

  async waitThenClaim(
    base: string,
    cursor: string,
    timeoutMs: number,
    request: ClaimRequest,
    signal: AbortSignal,
  ): Promise<ClaimResult | undefined> {
    const result = await this.#store.waitThenRun(
      base,
      cursor,
      timeoutMs,
      { name: 'tasks/claim', keys: this.#keysOf(base), args: this.#claimArgs(base, request) },
      async (reply): Promise<ClaimResult> => {
        const claimed = claimResult(reply);
        if (!signal.aborted || claimed.tasks.length === 0) return claimed;
        // aborted after the claim ran: what it took goes back, its starts taken back
        const ops = claimed.tasks.map(
          (task): SettleOp => ({ kind: 'handBack', lease: task.lease, taskId: task.id, unstart: task.kind === 'started', delayMs: 0 }),
        );
        await this.settle(base, ops, request.specs);
        return { ...claimed, tasks: [] };
      },
      signal,
      // a lost connection ends the wait early: the claim runs on the caller's connection
      async () => (signal.aborted ? undefined : this.claim(base, request)),
    );
    if (result === undefined || (signal.aborted && result.tasks.length === 0)) return undefined;
    return result;
  }

  async settle(base: string, ops: readonly SettleOp[], specs: readonly TaskSpec[]): Promise<SettleOutcome[]> {
    if (ops.length === 0) return [];
    // a done with a result adds its result key after the queue's keys
    const keys = [...this.#keysOf(base)];
    // the ops go grouped by their leases' entry, as the data scripts take leases; the
    // outcomes come back in that order
    const byEntry = new Map<string, number[]>();
    ops.forEach((op, i) => {
      const entry = parseLease(op.lease)?.entry ?? '0';
      const group = byEntry.get(entry);
      if (group) group.push(i);
      else byEntry.set(entry, [i]);
    });
    const args: (string | number)[] = [clockArg(this.#redis), eventsChannel(base), ...specArgs(specs), byEntry.size];
    const order: number[] = [];
    for (const [entry, indexes] of byEntry) {
      args.push(entry, indexes.length);
      for (const i of indexes) {
        args.push(...opArgs(ops[i] as SettleOp, keys, base));
        order.push(i);
      }
    }
    const outcomes = outcomesOf((await runScript(this.#redis, 'tasks/settle', keys, args)) as [string, string]);
    const inOrder: SettleOutcome[] = new Array(ops.length);
    order.forEach((i, k) => {
      inOrder[i] = outcomes[k] as SettleOutcome;
    });
    return inOrder;
  }

  async refresh(base: string, leases: readonly string[], leaseMs: number): Promise<Set<string>> {
    const groups = collectLeases('leases', leases);
    if (groups.length === 0) return new Set();
    const args = [clockArg(this.#redis), leaseMs, ...groupArgs(groups)];
    return new Set((await runScript(this.#redis, 'refresh', scriptKeys(base), args)) as string[]);
  }

  async read(base: string, taskId: string): Promise<TaskRecord | undefined> {
    const text = (await runScript(this.#redis, 'tasks/read', [tasksKey(base)], [clockArg(this.#redis), taskId])) as string;
    return text === '' ? undefined : decodeRecord(text, taskId);
  }

  async result(base: string, taskId: string): Promise<string | undefined> {
    try {
      return (await this.#redis.get(resultKey(base, taskId))) ?? undefined;
    } catch (error) {
      throw toStoreError(error, 'reading a task result');
    }
  }

  async cancel(base: string, taskId: string, keepMs: number): Promise<boolean> {
    const args = [clockArg(this.#redis), taskId, keepMs, eventsChannel(base)];
    return (await runScript(this.#redis, 'tasks/cancel', this.#keysOf(base), args)) === 1;
  }

  async schedule(base: string, name: string, mode: ScheduleMode, seenDue: number, nextDue: number): Promise<ScheduleClaim> {
    const reply = (await runScript(
      this.#redis,
      'tasks/schedule_claim',
      [schedulesKey(base)],
      [clockArg(this.#redis), name, mode, seenDue, nextDue],
    )) as [number, number, number];
    return { claimed: reply[0] === 1, due: reply[1], now: reply[2] };
  }

  async taskMetrics(base: string): Promise<Record<string, number>> {
    let fields: Record<string, string>;
    try {
      fields = await this.#redis.hgetall(taskMetricsKey(base));
    } catch (error) {
      throw toStoreError(error, 'reading task metrics');
    }
    return Object.fromEntries(Object.entries(fields).map(([field, value]) => [field, Number(value)]));
  }

  async recentFailures(base: string, count: number): Promise<TaskFailure[]> {
    let entries: string[];
    try {
      // the list is oldest first: the newest `count` are its tail
      entries = (await this.#redis.lrange(failuresKey(base), -count, -1)).reverse();
    } catch (error) {
      throw toStoreError(error, 'reading recent task failures');
    }
    return entries.flatMap((entry) => {
      const failure = parseFailure(entry);
      return failure ? [failure] : [];
    });
  }

  async listen(base: string, listener: TaskEventListener): Promise<() => Promise<void>> {
    try {
      return await this.#listeners.add(this.#ensureFeed(), eventsChannel(base), listener);
    } catch (error) {
      throw toStoreError(error, 'subscribing to task events');
    }
  }

  #ensureFeed(): TaskEventFeed {
    this.#feed ??= new TaskEventFeed(this.#redis, {
      // one message carries the changes of one script call, in order, a line
      // "<state> <task id>,<task id>,..." per run of changes to one state (lib/tasks.lua)
      message: (channel, message) => {
        if (!this.#listeners.has(channel)) return;
        for (const line of message.split('\n')) {
          const space = line.indexOf(' ');
          const state = line.slice(0, space) as RecordState;
          for (const taskId of line.slice(space + 1).split(',')) this.#listeners.emit(channel, { kind: 'change', taskId, state });
        }
      },
      // events published while the feed was away are lost: waiters read their task again
      reconnected: () => this.#listeners.reconnected(),
    });
    return this.#feed;
  }

  async close(): Promise<void> {
    this.#listeners.clear();
    this.#feed?.close();
    this.#feed = undefined;
  }
}

/** One entry of the failures list as lib/tasks.lua writes it; undefined if it is not one. */
function parseFailure(entry: string): TaskFailure | undefined {
  let value: unknown;
  try {
    value = JSON.parse(entry);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const { t, i, m, e, a, f, at } = value as Record<string, unknown>;
  if (typeof t !== 'string' || typeof i !== 'string' || typeof a !== 'number' || typeof at !== 'number') return undefined;
  return {
    taskId: i,
    task: t,
    item: typeof m === 'string' ? m : '',
    error: typeof e === 'string' ? e : '',
    attempt: a,
    final: f === 1,
    at,
  };
}
