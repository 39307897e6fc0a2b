/**
 * The task side of the Redis store: each step is one Lua script under the queue's hash
 * tag (scripts/tasks/*.lua, built on the data-queue scripts' library, lib/ops.lua), so an
 * enqueue, a claim that starts what it reads, and a settle of many runs are one call
 * each. Task events travel by pub/sub on one subscriber connection per app, shared by all
 * waiters.
 */
import { clockArg } from '../../data/clock.js';
import { collectLeases, groupArgs, leaseOf } from '../../data/lease.js';
import { MAX_ATTEMPTS } from '../../data/options.js';
import type { RecordState, TaskEventListener, TaskRecord } from '../../tasks/records.js';
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
import { eventsChannel, finishedTaskKey, resultKey, schedulesKey, scriptKeys, taskKeys, taskMetricsKey, tasksKey } from './keys.js';
import { parseRecord } from './record.js';
import { runScript, toStoreError, type RedisConnection } from './scripts/loader.js';
import type { RedisStore } from './store.js';

const STATES: Record<string, RecordState> = {
  q: 'queued',
  d: 'delayed',
  s: 'started',
  c: 'cancelled',
  done: 'done',
  failed: 'failed',
  cancelled: 'cancelled',
};

/**
 * A record's text (see lib/tasks.lua): "<state>|<attempt>|<at>|<lease or result
 * flag>|<name bytes>|<name><error>".
 */
function decodeRecord(text: string, taskId: string): TaskRecord | undefined {
  const bars: number[] = [];
  for (let at = text.indexOf('|'); at >= 0 && bars.length < 5; at = text.indexOf('|', at + 1)) bars.push(at);
  const [p1, p2, p3, p4, p5] = bars;
  if (p5 === undefined || p1 === undefined || p2 === undefined || p3 === undefined || p4 === undefined) return undefined;
  const code = text.slice(0, p1);
  const state = STATES[code];
  if (!state) return undefined;
  const tail = Buffer.from(text.slice(p5 + 1), 'utf8');
  const nameBytes = Number(text.slice(p4 + 1, p5));
  const error = tail.subarray(nameBytes).toString('utf8');
  return {
    state,
    attempt: Number(text.slice(p1 + 1, p2)),
    task: tail.subarray(0, nameBytes).toString('utf8'),
    item: taskId,
    at: Number(text.slice(p2 + 1, p3)),
    ...(error === '' ? {} : { error }),
    // a finished record's fourth field says whether a result was saved
    hasResult: code.length > 1 && text.slice(p3 + 1, p4) === '1',
  };
}

function specArgs(specs: readonly TaskSpec[]): (string | number)[] {
  const args: (string | number)[] = [specs.length];
  for (const spec of specs) args.push(spec.name, spec.attempts, spec.visTimeoutMs, spec.useDead ? '1' : '0', spec.finishedKeepMs);
  return args;
}

/** A settle op's 11 fields (see tasks/settle.lua). */
function opArgs(op: SettleOp): (string | number)[] {
  switch (op.kind) {
    case 'start':
      return ['start', op.lease, op.taskId, op.task, 0, -1, '', '', 0, 0, op.firstDelivery ? '1' : '0'];
    case 'done':
      return ['done', op.lease, op.taskId, op.task, op.attempt, op.runMs, '', op.result ?? '', op.resultMs ?? 0, 0, '0'];
    case 'retry':
      return ['retry', op.lease, op.taskId, op.task, op.attempt, op.runMs, op.error, '', 0, op.delayMs, '0'];
    case 'fail':
      return ['fail', op.lease, op.taskId, op.task, op.attempt, op.runMs, op.error, '', 0, 0, op.forceDead ? '1' : '0'];
    case 'discard':
      return ['discard', op.lease, '', '', 0, -1, '', '', 0, 0, '0'];
    case 'handBack':
      return ['handBack', op.lease, op.taskId, '', 0, -1, '', '', 0, op.delayMs, op.unstart ? '1' : '0'];
  }
}

/** The claim script's reply: { wait_ms, cursor[, entry, kind, attempt, record, ...] }. */
function claimResult(reply: unknown): ClaimResult {
  const [nextDueMs, cursor, entry, ...items] = reply as [number, string, string | undefined, ...(string | number)[]];
  const tasks: ClaimedTask[] = [];
  for (let i = 0; i + 2 < items.length; i += 3) {
    const record = parseRecord(items[i + 2] as string);
    tasks.push({
      kind: items[i] as ClaimKind,
      lease: leaseOf(record.id, entry as string),
      id: record.id,
      delivery: record.deliveries + 1,
      payload: record.payload,
      attempt: Number(items[i + 1]),
    });
  }
  return { tasks, nextDueMs, cursor };
}

export class RedisTaskStore implements TaskStore {
  readonly #store: RedisStore;
  readonly #redis: RedisConnection;
  #feed: TaskEventFeed | undefined;
  /** Per channel: its listeners, and the subscription every listener must wait for. */
  readonly #channels = new Map<string, { listeners: Set<TaskEventListener>; subscribed: Promise<unknown> }>();

  constructor(store: RedisStore) {
    this.#store = store;
    this.#redis = store.connection;
  }

  async enqueue(base: string, request: EnqueueRequest): Promise<boolean[]> {
    if (request.tasks.length === 0) return [];
    const keys = taskKeys(base);
    const args: (string | number)[] = [clockArg(this.#redis), request.delayMs, request.priority, request.task];
    for (const { taskId, payload } of request.tasks) {
      keys.push(finishedTaskKey(base, taskId));
      args.push(taskId, payload);
    }
    const written = (await runScript(this.#redis, 'tasks/enqueue', keys, args)) as number[];
    return written.map((w) => w === 1);
  }

  #claimArgs(base: string, request: ClaimRequest): (string | number)[] {
    return [
      request.count,
      request.start,
      request.leaseMs,
      request.token,
      MAX_ATTEMPTS,
      eventsChannel(base),
      ...specArgs(request.specs),
    ];
  }

  async claim(base: string, request: ClaimRequest): Promise<ClaimResult> {
    const args = [clockArg(this.#redis), ...this.#claimArgs(base, request)];
    return claimResult(await runScript(this.#redis, 'tasks/claim', taskKeys(base), args));
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
      { name: 'tasks/claim', keys: taskKeys(base), args: this.#claimArgs(base, request) },
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
    const keys = taskKeys(base);
    const args: (string | number)[] = [clockArg(this.#redis), eventsChannel(base), ...specArgs(specs)];
    for (const op of ops) {
      const taskId = op.kind === 'discard' ? '' : op.taskId;
      keys.push(finishedTaskKey(base, taskId), resultKey(base, taskId));
      args.push(...opArgs(op));
    }
    const reply = (await runScript(this.#redis, 'tasks/settle', keys, args)) as (number | string)[];
    const outcomes: SettleOutcome[] = [];
    for (let i = 0; i < reply.length; i += 4) {
      outcomes.push({
        applied: reply[i] === 1,
        state: reply[i + 1] as RecordState | '',
        attempt: Number(reply[i + 2]),
        deadLettered: reply[i + 3] === 1,
      });
    }
    return outcomes;
  }

  async refresh(base: string, leases: readonly string[], leaseMs: number): Promise<Set<string>> {
    const groups = collectLeases('leases', leases);
    if (groups.length === 0) return new Set();
    const args = [clockArg(this.#redis), leaseMs, ...groupArgs(groups)];
    return new Set((await runScript(this.#redis, 'refresh', scriptKeys(base), args)) as string[]);
  }

  async read(base: string, taskId: string): Promise<TaskRecord | undefined> {
    const text = (await runScript(this.#redis, 'tasks/read', [tasksKey(base), finishedTaskKey(base, taskId)], [taskId])) as string;
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
    const keys = [...taskKeys(base), finishedTaskKey(base, taskId)];
    const args = [clockArg(this.#redis), taskId, keepMs, eventsChannel(base)];
    return (await runScript(this.#redis, 'tasks/cancel', keys, args)) === 1;
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

  async listen(base: string, listener: TaskEventListener): Promise<() => Promise<void>> {
    const name = eventsChannel(base);
    const feed = this.#ensureFeed();
    let channel = this.#channels.get(name);
    if (!channel) {
      channel = { listeners: new Set(), subscribed: feed.subscribe(name) };
      this.#channels.set(name, channel);
    }
    channel.listeners.add(listener);
    try {
      // a listener that returned before the SUBSCRIBE took effect could miss an event
      // between its caller's read and the subscription
      await channel.subscribed;
    } catch (error) {
      this.#channels.delete(name);
      throw toStoreError(error, 'subscribing to task events');
    }
    return async () => {
      const current = this.#channels.get(name);
      if (!current?.listeners.delete(listener) || current.listeners.size > 0) return;
      this.#channels.delete(name);
      await feed.unsubscribe(name);
    };
  }

  #ensureFeed(): TaskEventFeed {
    this.#feed ??= new TaskEventFeed(this.#redis, {
      // one message carries the changes of one script call, a line "<task id> <state>" each
      message: (channel, message) => {
        const listeners = this.#channels.get(channel)?.listeners;
        if (!listeners) return;
        for (const line of message.split('\n')) {
          const space = line.indexOf(' ');
          const event = { kind: 'change', taskId: line.slice(0, space), state: line.slice(space + 1) as RecordState } as const;
          for (const listener of listeners) listener(event);
        }
      },
      // events published while the feed was away are lost: waiters read their task again
      reconnected: () => {
        for (const { listeners } of this.#channels.values()) {
          for (const listener of listeners) listener({ kind: 'reconnected' });
        }
      },
    });
    return this.#feed;
  }

  async close(): Promise<void> {
    this.#channels.clear();
    this.#feed?.close();
    this.#feed = undefined;
  }
}
