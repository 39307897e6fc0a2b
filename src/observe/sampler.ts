/**
 * Feeds the dashboard's history: reads every queue (stats() and task metrics) once per
 * interval and hands the reading to a {@link History}. One round at a time: a round that
 * takes longer than the interval delays the next instead of piling up. The timer never
 * keeps the process alive; `close()` stops it.
 */
import type { History } from './history.js';
import type { QueueSource } from './source.js';

export class Sampler {
  readonly #source: QueueSource;
  readonly #history: History;
  readonly #onError: ((error: unknown) => void) | undefined;
  #timer: NodeJS.Timeout | undefined;
  #round: Promise<void> | undefined;
  #closed = false;

  constructor(source: QueueSource, history: History, onError?: (error: unknown) => void) {
    this.#source = source;
    this.#history = history;
    this.#onError = onError;
  }

  /** Takes the first sample now, then one per interval. */
  start(): void {
    if (this.#closed || this.#round || this.#timer) return;
    this.#run();
  }

  #run(): void {
    const started = Date.now();
    this.#round = this.#sample(started).finally(() => {
      this.#round = undefined;
      if (this.#closed) return;
      const wait = Math.max(0, started + this.#history.intervalMs - Date.now());
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        this.#run();
      }, wait);
      this.#timer.unref();
    });
  }

  async #sample(time: number): Promise<void> {
    try {
      this.#history.record(time, await this.#source.readAll());
    } catch (error) {
      // a store that cannot be read leaves a gap in the charts; the next round tries again
      this.#onError?.(error);
    }
  }

  /** Stops sampling; resolves once a round under way has ended. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#round;
  }
}
