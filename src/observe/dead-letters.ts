/**
 * A page of a queue's dead letters, as `GET /api/queues/:name/dead` serves it: each with
 * what its task record says when it is a task message (task, status, runs, last error
 * and when it failed). Dead letters are read with peek, which starts at the head, so the
 * pages reach the first {@link DEAD_LETTERS_REACHABLE} of them.
 */
import type { Visq } from '../app.js';
import type { DataQueue } from '../data/queue.js';
import { taskOfItem, type ItemTask } from './item.js';

/** Dead letters the pages reach: one peek reads at most this many. */
export const DEAD_LETTERS_REACHABLE = 1000;

/** A dead letter on a page. */
export interface DeadLetter {
  readonly id: string;
  readonly item: unknown;
  /** For a task message: its task record's story; status `unknown` once the record expired. */
  readonly task?: ItemTask;
}

/** Dead letters `offset` to `offset + limit` (at most {@link DEAD_LETTERS_REACHABLE} in all) of `queue`, with their tasks. */
export async function deadLetters(queue: DataQueue, app: Visq, offset: number, limit: number): Promise<DeadLetter[]> {
  const end = Math.min(offset + limit, DEAD_LETTERS_REACHABLE);
  if (end <= offset) return [];
  const found = [...(await queue.dead.peekData(end))].slice(offset);
  return Promise.all(
    found.map(async ([id, item]) => {
      const task = await taskOfItem(app, queue.name, id, item);
      return task ? { id, item, task } : { id, item };
    }),
  );
}
