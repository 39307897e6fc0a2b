/** What the commands that read queues share: the store they read, its prefix, the queue handle. */
import { DataQueue } from '../../data/queue.js';
import type { StoreLike } from '../../data/store.js';
import type { Output } from '../output.js';
import { withStore, type StoreTarget } from '../store.js';

export { storeTarget, type StoreTarget } from '../store.js';

/** A command's entry: its arguments after the command name; resolves to the exit code. */
export type Command = (args: readonly string[], io: Output) => Promise<number>;

/** Opens `queue` under the target's prefix, runs `use`, then closes the queue and the store. */
export function withQueue<R>(target: StoreTarget, queue: string, use: (dq: DataQueue, store: StoreLike) => Promise<R>): Promise<R> {
  return withStore(target, async (store) => {
    const dq = new DataQueue(store, queue, { prefix: target.prefix });
    try {
      return await use(dq, store);
    } finally {
      await dq.close();
    }
  });
}
