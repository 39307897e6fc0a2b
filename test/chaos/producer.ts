/**
 * The producer of a chaos run, in the orchestrating process: puts items and executes
 * tasks, spread over the run's window, and remembers what each call told it — stored
 * (with ids), refused as full (certainly not stored), or failed otherwise (nobody knows) —
 * for the checks of verify.ts. A failed call is never retried under the same keys.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { StoreFullError, type DataQueue } from '../../src/index.js';
import { bodyOf, type ChaosItem, type ChaosTaskArgs } from './ledger.js';
import { DATA, TASKS } from './settings.js';
import type { ChaosTasks } from './tasks.js';
import type { ExecutedTask } from './verify.js';

/** Key prefixes of the tasks: retried under a lease, and at most once. */
const RETRIED_KEY = 'tr';
const ONCE_KEY = 'to';
/** Gap between two puts. */
const PUT_EVERY_MS = 50;

/** What the producer did, for the checks. */
export class Producer {
  readonly put = new Map<string, string>();
  readonly refused = new Set<string>();
  readonly uncertain = new Set<string>();
  readonly poison = new Set<string>();
  readonly executed = new Map<string, ExecutedTask>();
  readonly tasksRefused = new Set<string>();
  readonly tasksUncertain = new Set<string>();
  #keys = 0;
  readonly #queue: DataQueue<ChaosItem>;
  readonly #tasks: ChaosTasks;
  readonly #next: () => number;

  constructor(queue: DataQueue<ChaosItem>, tasks: ChaosTasks, next: () => number) {
    this.#queue = queue;
    this.#tasks = tasks;
    this.#next = next;
  }

  /** Puts `items` and executes `tasks`, spread evenly over `windowMs`; failed calls are tried again with new keys. */
  async run(items: number, tasks: number, windowMs: number): Promise<void> {
    const steps = Math.max(1, Math.floor(windowMs / PUT_EVERY_MS));
    const started = performance.now();
    for (let step = 0; this.put.size < items || this.executed.size < tasks; step += 1) {
      // on schedule, the first `step + 1` of `steps` shares are out by now
      const share = (total: number): number => Math.ceil((total * Math.min(step + 1, steps)) / steps);
      const okItems = await this.#putItems(share(items) - this.put.size);
      const okTasks = await this.#executeTasks(share(tasks) - this.executed.size);
      const ahead = started + (step + 1) * PUT_EVERY_MS - performance.now();
      // a failed call is tried again soon, behind schedule or not
      await sleep(okItems && okTasks ? Math.max(0, ahead) : 50);
    }
  }

  /**
   * Executes `tasks` poison tasks (retried under a lease, failing every run) at once: runs
   * that fail, for a worker armed to die around the settle of one. An execute that fails
   * is not tried again.
   */
  async failing(tasks: number): Promise<void> {
    await this.#executeTasks(tasks, true, true);
  }

  /**
   * Puts `items` items and executes `tasks` tasks that always succeed, trying again until
   * they are in (Redis is expected to be up).
   */
  async probe(items: number, tasks: number): Promise<void> {
    while (!(await this.#putItems(items, false))) await sleep(50);
    while (!(await this.#executeTasks(tasks, false))) await sleep(50);
  }

  #key(kind: string): string {
    this.#keys += 1;
    return `${kind}${this.#keys}`;
  }

  async #putItems(n: number, mayFail = true): Promise<boolean> {
    if (n <= 0) return true;
    const items: ChaosItem[] = Array.from({ length: n }, () => {
      const k = this.#key('p');
      const poison = mayFail && this.#next() < DATA.poison;
      if (poison) this.poison.add(k);
      return { k, poison, body: bodyOf(k, 8 + Math.floor(this.#next() * 120)) };
    });
    try {
      const ids = await this.#queue.putData(items);
      ids.forEach((id, i) => this.put.set(id, (items[i] as ChaosItem).k));
      return true;
    } catch (error) {
      for (const { k } of items) (error instanceof StoreFullError ? this.refused : this.uncertain).add(k);
      return false;
    }
  }

  async #executeTasks(n: number, mayFail = true, allPoison = false): Promise<boolean> {
    if (n <= 0) return true;
    let ok = true;
    const groups: { task: ChaosTasks[keyof ChaosTasks]; once: boolean; args: ChaosTaskArgs[] }[] = [
      { task: this.#tasks.retried, once: false, args: [] },
      { task: this.#tasks.once, once: true, args: [] },
    ];
    for (let i = 0; i < n; i += 1) {
      const once = mayFail && !allPoison && this.#next() < TASKS.once;
      const k = this.#key(once ? ONCE_KEY : RETRIED_KEY);
      const poison = allPoison || (mayFail && !once && this.#next() < TASKS.poison);
      groups[once ? 1 : 0]?.args.push([k, poison, Math.floor(this.#next() * 20)]);
    }
    for (const { task, once, args } of groups) {
      if (args.length === 0) continue;
      try {
        const enqueued = await task.executeMany(args);
        enqueued.forEach((et, i) => {
          const [k, poison] = args[i] as ChaosTaskArgs;
          this.executed.set(et.id, { k, poison, once });
        });
      } catch (error) {
        ok = false;
        for (const [k] of args) (error instanceof StoreFullError ? this.tasksRefused : this.tasksUncertain).add(k);
      }
    }
    return ok;
  }
}
