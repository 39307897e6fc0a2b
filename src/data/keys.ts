/**
 * The identity of a queue in every store: its key base `{prefix:name}`. On Redis every key
 * of the queue starts with it (stores/redis/keys.ts), so its hash tag puts a queue and its
 * dead-letter queue in one Cluster slot; the other stores key their queues by it too.
 */

/**
 * The key base of a queue: `{prefix:name}`. Names cannot contain `}` and prefixes neither
 * `{` nor `}`, so the base is read back unambiguously and two queues' keys never meet.
 */
export function queueBase(prefix: string, name: string): string {
  return `{${prefix}:${name}}`;
}

/** The key base of the dead-letter queue of the queue at `base`; same hash tag. */
export function deadBase(base: string): string {
  return `${base}:dead`;
}
