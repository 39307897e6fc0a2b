/**
 * Task records in Redis: each change is one Lua script under the queue's hash tag; task
 * events travel by pub/sub on one subscriber connection per app, shared by all waiters.
 */
import { clockArg } from '../../data/clock.js';
import { runScript, toStoreError, type RedisConnection } from './scripts/loader.js';
import { TaskEventFeed } from './event-feed.js';
import {
  eventsChannel,
  failuresKey,
  resultKey,
  schedulesKey,
  taskMetricsKey,
  taskKey,
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

export class RedisTaskRecords implements TaskRecordStore {
  readonly #redis: RedisConnection;
  #feed: TaskEventFeed | undefined;
  /** Per channel: its listeners, and the subscription every listener must wait for. */
  readonly #channels = new Map<string, { listeners: Set<TaskEventListener>; subscribed: Promise<unknown> }>();

  constructor(redis: RedisConnection) {
    this.#redis = redis;
  }

  async create(base: string, state: 'queued' | 'delayed', keepMs: number, tasks: readonly NewTask[]): Promise<number> {
    if (tasks.length === 0) return 0;
    const keys = tasks.map((t) => taskKey(base, t.taskId));
    const args: (string | number)[] = [clockArg(this.#redis), state, keepMs];
    for (const t of tasks) args.push(t.task);
    return (await runScript(this.#redis, 'tasks/task_create', keys, args)) as number;
  }

  async discard(base: string, taskIds: readonly string[]): Promise<void> {
    if (taskIds.length === 0) return;
    try {
      // one key per task, all under the queue's hash tag: one slot on a Cluster
      await this.#redis.del(...taskIds.map((taskId) => taskKey(base, taskId)));
    } catch (error) {
      throw toStoreError(error, 'discarding task records');
    }
  }

  async transitionMany(base: string, changes: readonly Transition[]): Promise<TransitionResult[]> {
    if (changes.length === 0) return [];
    const keys: string[] = [taskMetricsKey(base)];
    const args: (string | number)[] = [clockArg(this.#redis), eventsChannel(base)];
    for (const change of changes) {
      keys.push(taskKey(base, change.taskId), resultKey(base, change.taskId));
      args.push(
        change.taskId,
        change.to,
        change.attempt,
        change.keepMs,
        change.error ?? '',
        change.result ?? '',
        change.resultMs ?? 0,
        change.task,
        change.attempts ?? 0,
        change.firstDelivery ? '1' : '0',
        change.spentKeepMs ?? change.keepMs,
        change.runMs ?? -1,
        change.lease ?? '',
        change.item ?? '',
      );
    }
    keys.push(failuresKey(base));
    const reply = (await runScript(this.#redis, 'tasks/task_transitions', keys, args)) as (number | string)[];
    const results: TransitionResult[] = [];
    for (let i = 0; i < reply.length; i += 3) {
      results.push({
        applied: reply[i] === 1,
        state: reply[i + 1] as RecordState | '',
        attempt: Number(reply[i + 2]),
      });
    }
    return results;
  }

  async read(base: string, taskId: string): Promise<TaskRecord | undefined> {
    let fields: Record<string, string>;
    try {
      fields = await this.#redis.hgetall(taskKey(base, taskId));
    } catch (error) {
      throw toStoreError(error, 'reading a task record');
    }
    if (!fields.state) return undefined;
    return {
      state: fields.state as RecordState,
      attempt: Number(fields.attempt ?? 0),
      task: fields.task ?? '',
      item: fields.item ?? '',
      at: Number(fields.at ?? 0),
      ...(fields.error === undefined ? {} : { error: fields.error }),
      hasResult: fields.result === '1',
    };
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

  async result(base: string, taskId: string): Promise<string | undefined> {
    try {
      return (await this.#redis.get(resultKey(base, taskId))) ?? undefined;
    } catch (error) {
      throw toStoreError(error, 'reading a task result');
    }
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
      // one message carries the changes of one batch, a line "<task id> <state>" each
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

/** One entry of the failures list as task_transitions.lua writes it; undefined if it is not one. */
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
