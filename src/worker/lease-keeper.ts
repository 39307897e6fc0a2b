/**
 * Keeps the leases a worker holds alive: deliveries fetched ahead (under the worker's
 * lease) and running tasks (under their own visibility timeout, or the worker's lease
 * when they run at most once), until their outcome is settled. One timer for all of
 * them, due at a third of the shortest lease held now, so that a task registered later
 * with a shorter lease is kept as well as the others; one store call per queue and lease
 * length.
 */
import { after } from '../sleep.js';
import type { TaskStore } from '../tasks/task-store.js';

/** Never refresh more often than this, ms. */
const MIN_INTERVAL_MS = 20;

interface Held {
  readonly base: string;
  readonly leaseMs: number;
}

export class LeaseKeeper {
  readonly #tasks: TaskStore;
  readonly #report: (error: unknown) => void;
  /** Called with leases the store no longer has for this worker (another worker's now). */
  readonly #lost: (leases: readonly string[]) => void;
  readonly #held = new Map<string, Held>();
  /** Held leases per length, to find the shortest without a scan. */
  readonly #lengths = new Map<number, number>();
  #cancel: (() => void) | undefined;
  #armedFor = Number.POSITIVE_INFINITY;
  #stopped = false;

  constructor(tasks: TaskStore, report: (error: unknown) => void, lost: (leases: readonly string[]) => void) {
    this.#tasks = tasks;
    this.#report = report;
    this.#lost = lost;
  }

  /** Keeps `lease` (of the queue at `base`) refreshed to `leaseMs` from now, until `release`. */
  hold(lease: string, base: string, leaseMs: number): void {
    const previous = this.#held.get(lease);
    if (previous?.leaseMs === leaseMs) return;
    if (previous) this.#forgetLength(previous.leaseMs);
    this.#held.set(lease, { base, leaseMs });
    this.#lengths.set(leaseMs, (this.#lengths.get(leaseMs) ?? 0) + 1);
    this.#arm();
  }

  release(lease: string): void {
    const held = this.#held.get(lease);
    if (!held) return;
    this.#held.delete(lease);
    this.#forgetLength(held.leaseMs);
  }

  stop(): void {
    this.#stopped = true;
    this.#cancel?.();
    this.#held.clear();
    this.#lengths.clear();
  }

  #forgetLength(leaseMs: number): void {
    const n = (this.#lengths.get(leaseMs) ?? 1) - 1;
    if (n > 0) this.#lengths.set(leaseMs, n);
    else this.#lengths.delete(leaseMs);
  }

  /** Arms the timer for a third of the shortest lease held, unless it is due sooner already. */
  #arm(): void {
    if (this.#stopped || this.#lengths.size === 0) return;
    const interval = Math.max(MIN_INTERVAL_MS, Math.min(...this.#lengths.keys()) / 3);
    const due = performance.now() + interval;
    if (this.#cancel && due >= this.#armedFor) return;
    this.#cancel?.();
    this.#armedFor = due;
    this.#cancel = after(interval, () => {
      this.#cancel = undefined;
      this.#armedFor = Number.POSITIVE_INFINITY;
      void this.#refresh().finally(() => this.#arm());
    });
  }

  async #refresh(): Promise<void> {
    const groups = new Map<string, { base: string; leaseMs: number; leases: string[] }>();
    for (const [lease, { base, leaseMs }] of this.#held) {
      const key = `${base}\u0000${leaseMs}`;
      let group = groups.get(key);
      if (!group) {
        group = { base, leaseMs, leases: [] };
        groups.set(key, group);
      }
      group.leases.push(lease);
    }
    await Promise.all(
      [...groups.values()].map(async ({ base, leaseMs, leases }) => {
        try {
          const kept = await this.#tasks.refresh(base, leases, leaseMs);
          if (kept.size < leases.length) this.#lost(leases.filter((lease) => !kept.has(lease) && this.#held.has(lease)));
        } catch (error) {
          this.#report(error);
        }
      }),
    );
  }
}
