/**
 * Task: a named function registered on an app, with its options. `execute` enqueues one
 * run on the task's queue and returns an EnqueuedTask to wait on.
 */
import { v4 as uuidv4 } from 'uuid';
import { encodeItem } from '../data/codec.js';
import { MAX_BATCH } from '../data/options.js';
import * as check from '../validate.js';
import { PENDING_KEEP_MS, type AppCore, type RegisteredTask } from './core.js';
import { EnqueuedTask } from './enqueued.js';
import { assertArgs, type TaskMessage } from './message.js';
import { executeOptions, type ExecuteOptions, type TaskSettings } from './options.js';

/**
 * Enqueues one run of `registered` per element of `argsList`, 1000 per atomic write.
 * Every argument list is checked before anything is written.
 */
export async function enqueue<R>(
  core: AppCore,
  registered: RegisteredTask,
  argsList: readonly (readonly unknown[])[],
  { delay, priority }: { delay: number; priority: number },
): Promise<EnqueuedTask<R>[]> {
  const { name, settings } = registered;
  const messages: TaskMessage[] = argsList.map((args) => ({
    t: name,
    i: uuidv4(),
    a: assertArgs(args),
    ...(priority === 0 ? {} : { r: priority }),
  }));
  const queue = core.queue(settings.queue);
  // every item is checked before anything is written: each chunk's records go out
  // together with its put, and a bad element must not leave a record (or an earlier chunk)
  messages.forEach((m, i) => encodeItem(m, `argsList[${i}]`, queue.settings.maxItemBytes));
  const base = core.base(settings.queue);
  const state = delay > 0 ? 'delayed' : 'queued';
  const keepMs = PENDING_KEEP_MS + Math.ceil(delay * 1000);
  const enqueued: EnqueuedTask<R>[] = [];
  for (let start = 0; start < messages.length; start += MAX_BATCH) {
    const chunk = messages.slice(start, start + MAX_BATCH);
    // One round trip for both: the records are sent first, so a worker normally finds
    // them; their item ids are written by each task's first start (a put's ids are only
    // known from its reply). A worker that starts a task before its record lands writes
    // the record itself, and task_create never overwrites one.
    const [recorded, put] = await Promise.allSettled([
      core.records.create(base, state, keepMs, chunk.map((m) => ({ taskId: m.i, task: name }))),
      queue.putData(chunk, { delay, priority }),
    ]);
    if (put.status === 'rejected') {
      // nothing to run: the records would say 'queued' for a week
      if (recorded.status === 'fulfilled') {
        await core.records.discard(base, chunk.map((m) => m.i)).catch(() => undefined);
      }
      throw put.reason;
    }
    if (recorded.status === 'rejected') {
      // the tasks are enqueued and will run (their first start writes the record):
      // rejecting now would make a caller retry and run them twice
      const error: unknown = recorded.reason;
      process.emitWarning(
        `visq enqueued ${chunk.length} task(s) on ${settings.queue} but could not write their status records ` +
          `(status() reads 'unknown' until they start): ${error instanceof Error ? error.message : String(error)}`,
        { code: 'VISQ_TASK_RECORD' },
      );
    }
    for (const m of chunk) enqueued.push(new EnqueuedTask<R>(core, m.i, name, settings.queue));
  }
  return enqueued;
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
   * Enqueues one run with `args` (a JSON-encodable tuple). With `delay` it starts no
   * earlier than that many seconds from now.
   */
  async execute(args: A, opts?: ExecuteOptions): Promise<EnqueuedTask<R>> {
    const [enqueued] = await enqueue<R>(this.#core, this.#registered, [assertArgs(args)], executeOptions(opts));
    return enqueued as EnqueuedTask<R>;
  }

  /** Enqueues one run per element of `argsList`, in order, 1000 per atomic write. */
  async executeMany(argsList: readonly A[], opts?: ExecuteOptions): Promise<EnqueuedTask<R>[]> {
    if (!Array.isArray(argsList)) throw check.typeError('argsList', 'an array of argument arrays', argsList);
    return enqueue<R>(this.#core, this.#registered, argsList, executeOptions(opts));
  }
}
