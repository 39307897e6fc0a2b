/**
 * Which queues exist under a prefix: the registry of queue names that every queue's first
 * put writes (see listQueues), so listing needs no scan of the keyspace. Kept in this one
 * function so the commands do not depend on how queues are found.
 */
import { listQueues, type StoreLike } from '../data/store.js';

/**
 * Names of the queues under `prefix` that have had a put since they were last cleared,
 * sorted. Dead-letter queues belong to their queue and are not listed.
 */
export async function discoverQueues(store: StoreLike, prefix: string): Promise<string[]> {
  return listQueues(store, { prefix });
}
