/**
 * Opening DataQueues in tests: each under the current test's prefix on the file's store,
 * closed after the test whatever its outcome.
 */
import { afterEach } from 'vitest';
import { DataQueue, type DataQueueOptions } from '../../src/index.js';
import type { StoreLike } from '../../src/data/queue.js';
import type { StoreContext } from './context.js';

/** Opens a queue named `name` (default 'q') with `options`, on `store` (default the file's). */
export type OpenQueue = <T = unknown>(name?: string, options?: DataQueueOptions, store?: StoreLike) => DataQueue<T>;

/** Registers the after-test close and returns the function that opens queues. */
export function useQueues(ctx: StoreContext): OpenQueue {
  const opened: DataQueue<unknown>[] = [];
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((queue) => queue.close()));
  });
  return <T = unknown>(name = 'q', options: DataQueueOptions = {}, store: StoreLike = ctx.store): DataQueue<T> => {
    const queue = new DataQueue<T>(store, name, { prefix: ctx.prefix, ...options });
    opened.push(queue as DataQueue<unknown>);
    return queue;
  };
}
