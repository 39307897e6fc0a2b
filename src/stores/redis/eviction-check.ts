/**
 * A startup check of the server's eviction policy. visq keeps items, leases and deadlines
 * in keys without a TTL. A `volatile-*` policy evicts only keys with a TTL, so it never
 * touches them; an `allkeys-*` policy may evict any key — a queue's in-flight hash (its
 * items are lost) or its lease set (its in-flight items never come back). See
 * docs/operations.md.
 *
 * The check asks `CONFIG GET maxmemory-policy` once per connection and emits a process
 * warning; it never fails its caller, since CONFIG is often unavailable to an application:
 * forbidden to a least-privilege ACL user, renamed or disabled by managed Redis services.
 */
import { isCluster, type RedisConnection } from './scripts/loader.js';

/** The `code` of the process warning emitted for an `allkeys-*` policy. */
export const EVICTION_WARNING_CODE = 'VISQ_EVICTION_POLICY';

/** Connections checked already, or being checked. */
const checked = new WeakSet<RedisConnection>();

/**
 * The policy `node` reports; `undefined` when it will not say: CONFIG refused (ACL),
 * unknown (renamed or disabled) or the connection failed. Connection failures also come
 * back as `retry: true`, since the next try may get an answer.
 */
async function policyOf(node: RedisConnection): Promise<{ policy?: string; retry: boolean }> {
  try {
    const reply: unknown = await node.config('GET', 'maxmemory-policy');
    const policy = Array.isArray(reply) ? reply[1] : undefined;
    return typeof policy === 'string' ? { policy, retry: false } : { retry: false };
  } catch (error) {
    // a reply error is the server's final word (NOPERM, unknown command); anything else
    // is the connection's trouble, not an answer
    return { retry: !(error instanceof Error && error.name === 'ReplyError') };
  }
}

/**
 * Warns (a process warning with code {@link EVICTION_WARNING_CODE}) when the server of
 * `connection` — every master of a Cluster — has an `allkeys-*` maxmemory policy. Runs
 * once per connection; never throws. Resolves with the unsafe policy found, if any.
 */
export async function warnOnUnsafeEviction(connection: RedisConnection): Promise<string | undefined> {
  if (checked.has(connection)) return undefined;
  checked.add(connection);
  // a Cluster that has not connected yet knows no nodes: ask any node through it then
  const masters = isCluster(connection) ? connection.nodes('master') : [];
  const nodes: RedisConnection[] = masters.length > 0 ? masters : [connection];
  const answers = await Promise.all(nodes.map(policyOf));
  if (answers.some((a) => a.retry)) checked.delete(connection);
  const unsafe = answers.map((a) => a.policy).find((p) => p?.startsWith('allkeys-'));
  if (unsafe !== undefined) {
    process.emitWarning(
      `Redis runs with maxmemory-policy ${unsafe}, which can evict visq's keys: items lost, ` +
        'items in flight never delivered again. Use noeviction (or a volatile-* policy) for visq; see docs/operations.md',
      {
        type: 'VisqWarning',
        code: EVICTION_WARNING_CODE,
        detail: 'visq keeps items, leases and deadlines in keys without a TTL; allkeys-* policies may evict any key.',
      },
    );
  }
  return unsafe;
}
