/**
 * Task: a named function registered on an app, with its options. `execute` enqueues one
 * run on the task's queue and returns an EnqueuedTask to wait on.
 */
import { MAX_BATCH, type SqlClient } from '../data/options.js';
import { checkTransactional } from '../data/store.js';
import { traceSend } from '../trace/spans.js';
import { collapseKeys, dedupeOptions, expandResults, type CheckedDedupe, type PutResult } from '../data/dedupe.js';
import * as check from '../validate.js';
import type { AppCore, RegisteredTask } from './core.js';
import { EnqueuedTask } from './enqueued.js';
import { encodeMessage } from './message.js';
import { newId } from './ids.js';
import { executeOptions, type ExecuteOptions, type TaskSettings } from './options.js';
import type { NewTask } from './task-store.js';

/**
 * Enqueues one run of `registered` per element of `argsList`, 1000 per atomic write, and
 * returns their ids. Every argument list is checked (and encoded, once) before anything
 * is written. `where(i)` names element i in errors.
 */
export async function enqueue(
  core: AppCore,
  registered: RegisteredTask,
  argsList: readonly unknown[],
  where: (i: number) => string,
  { delay, priority, db, dedupe }: { delay: number; priority: number; db?: SqlClient | undefined; dedupe?: unknown },
): Promise<PutResult[]> {
  core.ensureOpen();
  checkTransactional(core.store, db, "this app's");
  const checked = dedupe === undefined ? undefined : dedupeOptions('opts.dedupe', dedupe, (i) => argsList[i]);
  const { name, nameJson, settings } = registered;
  const maxBytes = core.queue(settings.queue).settings.maxItemBytes;
  const tasks: NewTask[] = [];
  for (let i = 0; i < argsList.length; i += 1) {
    tasks.push({ taskId: newId(), payload: encodeMessage(nameJson, argsList[i], where(i), maxBytes) });
  }
  const base = core.base(settings.queue);
  const delayMs = check.toMs(delay);
  if (checked) return enqueueDeduped(core, settings.queue, base, name, tasks, checked, { delayMs, priority, db });
  const ids = await traceSend(settings.queue, tasks.length, async (meta) => {
    for (let start = 0; start < tasks.length; start += MAX_BATCH) {
      const batch = tasks.slice(start, start + MAX_BATCH);
      await core.tasks.enqueue(base, { task: name, tasks: batch, delayMs, priority, ...(meta === '' ? {} : { meta }), ...(db ? { db } : {}) });
    }
    return tasks.map((t) => t.taskId);
  });
  // tools list queues from the registry instead of scanning keys; never fails the enqueue
  if (tasks.length > 0) await core.listQueue(settings.queue);
  return ids.map((id) => ({ id, duplicate: false }));
}

/** enqueue with dedupe: keys checked and collapsed first, then one atomic step per 1000 distinct keys. */
async function enqueueDeduped(
  core: AppCore,
  queue: string,
  base: string,
  name: string,
  tasks: readonly NewTask[],
  dedupe: CheckedDedupe,
  { delayMs, priority, db }: { delayMs: number; priority: number; db: SqlClient | undefined },
): Promise<PutResult[]> {
  const collapsed = collapseKeys(tasks.map((t) => t.payload), dedupe.keyOf);
  const sent = collapsed.unique.map((i) => tasks[i] as NewTask);
  const answers: PutResult[] = [];
  await traceSend(queue, sent.length, async (meta) => {
    for (let start = 0; start < sent.length; start += MAX_BATCH) {
      const batch = sent.slice(start, start + MAX_BATCH);
      const request = { task: name, tasks: batch, delayMs, priority, ...(meta === '' ? {} : { meta }), ...(db ? { db } : {}) };
      const keys = collapsed.keys.slice(start, start + MAX_BATCH);
      answers.push(...(await core.tasks.enqueueDeduped(base, request, { keys, until: dedupe.until, windowMs: dedupe.windowMs })));
    }
    return answers.map((answer) => answer.id);
  });
  if (answers.some((answer) => !answer.duplicate)) await core.listQueue(queue);
  return expandResults(collapsed, answers);
}

/**
 * A registered task.
 * @typeParam A - the argument tuple of the task function.
 * @typeParam R - what the task function resolves to.
 */
export class Task<A extends readonly unknown[], R> {
  /** The registered name, unique within the app. */
  readonly name: string;
  /** The validated options. */
  readonly settings: Readonly<TaskSettings>;

  readonly #core: AppCore;
  readonly #registered: RegisteredTask;

  /** @internal Use `app.task(...)`. */
  constructor(core: AppCore, registered: RegisteredTask) {
    this.#core = core;
    this.#registered = registered;
    this.name = registered.name;
    this.settings = registered.settings;
  }

  /** The task queue it runs on. */
  get queue(): string {
    return this.settings.queue;
  }

  /**
   * Enqueues one run with `args` (a JSON-encodable tuple), in one round trip. With `delay`
   * (seconds) it starts no earlier than that; `priority` (-1000..1000) orders it; with
   * `db` (PostgresStore) it is enqueued inside the caller's open transaction. With
   * `dedupe` (docs/dedupe.md) nothing is enqueued when a live task holds the key: the
   * handle then has `duplicate: true` and the holding task's id.
   */
  async execute(args: A, opts?: ExecuteOptions<A>): Promise<EnqueuedTask<R>> {
    const [put] = await enqueue(this.#core, this.#registered, [args], () => 'args', executeOptions(opts));
    const { id, duplicate } = put as PutResult;
    return new EnqueuedTask<R>(this.#core, id, this.name, this.queue, duplicate);
  }

  /**
   * Enqueues one run per element of `argsList`, in order, 1000 per atomic write (one round
   * trip each). With `dedupe`, one handle per element in order, duplicates (also of an
   * earlier element of the call) with `duplicate: true` and the holder's id.
   */
  async executeMany(argsList: readonly A[], opts?: ExecuteOptions<A>): Promise<EnqueuedTask<R>[]> {
    if (!Array.isArray(argsList)) throw check.typeError('argsList', 'an array of argument arrays', argsList);
    const puts = await enqueue(this.#core, this.#registered, argsList, (i) => `argsList[${i}]`, executeOptions(opts));
    return puts.map(({ id, duplicate }) => new EnqueuedTask<R>(this.#core, id, this.name, this.queue, duplicate));
  }
}
