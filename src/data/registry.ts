/**
 * A queue's entry in the registry of queue names that tools list queues from (`visq
 * stats`, the dashboard, metrics): written after a queue's first put, removed by
 * clear(). The registry is a listing, not part of the queue: it can live elsewhere
 * (another Cluster slot, a key an ACL leaves out) and fail on its own. Its failures
 * therefore never fail the put or clear that came first, whose effect is done by then
 * (a caller that retried an acknowledged put would store its items twice): they are
 * reported as a process warning instead, and the next put tries again.
 */
import type { QueueStore } from './backend.js';

/** The `code` of the process warning emitted when the registry could not be written. */
export const REGISTRY_WARNING_CODE = 'VISQ_QUEUE_REGISTRY';

/** The registry entry of one queue, as one DataQueue handle keeps it. */
export class RegistryEntry {
  readonly #store: QueueStore;
  readonly #prefix: string;
  readonly #name: string;
  /** Whether this handle has listed the queue (since its last clear). */
  #listed = false;
  /** Whether a failure was reported since the last success: one warning, not one per put. */
  #warned = false;

  constructor(store: QueueStore, prefix: string, name: string) {
    this.#store = store;
    this.#prefix = prefix;
    this.#name = name;
  }

  /** Lists the queue, once per handle; never rejects. */
  async list(): Promise<void> {
    if (this.#listed) return;
    try {
      await this.#store.registerQueue(this.#prefix, this.#name);
      this.#listed = true;
      this.#warned = false;
    } catch (error) {
      this.#warn(error, 'its items are stored, but tools that list queues will not find it until a later put lists it');
    }
  }

  /** Removes the queue from the listing (it was cleared); never rejects. */
  async unlist(): Promise<void> {
    this.#listed = false;
    try {
      await this.#store.forgetQueue(this.#prefix, this.#name);
    } catch (error) {
      this.#warn(error, 'it was cleared, but tools that list queues may still show it');
    }
  }

  #warn(error: unknown, consequence: string): void {
    if (this.#warned) return;
    this.#warned = true;
    const reason = error instanceof Error ? error.message : String(error);
    process.emitWarning(
      `Could not update the registry of queue names under prefix ${JSON.stringify(this.#prefix)} for queue ` +
        `${JSON.stringify(this.#name)}: ${reason}; ${consequence}. See docs/operations.md (Least privilege)`,
      { type: 'VisqWarning', code: REGISTRY_WARNING_CODE },
    );
  }
}
