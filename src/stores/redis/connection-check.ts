/**
 * A start-up check that a caller's ioredis client reaches its server. By default ioredis
 * reconnects forever and queues commands meanwhile, so a wrong address or password shows
 * only as "Unhandled error event" traces and, seconds later, a "max retries per request"
 * error that names no server. This check waits for the client's first answer or its
 * first connection error, and says which server could not be reached and why. It never
 * changes the client's settings nor closes it: the client is the caller's.
 */
import { once } from 'node:events';
import { StoreError } from '../../errors.js';
import { isCluster, type RedisConnection } from './scripts/loader.js';

interface NodeAddress {
  readonly host?: string;
  readonly port?: number;
  readonly path?: string | null;
}

interface ClientOptions extends NodeAddress {
  readonly username?: string | null;
  readonly password?: string | null;
  readonly db?: number;
  readonly tls?: unknown;
}

function hostPort({ host, port, path }: NodeAddress): string {
  if (path) return path;
  const name = host ?? '127.0.0.1';
  // an IPv6 literal needs brackets before the port
  return `${name.includes(':') ? `[${name}]` : name}:${port ?? 6379}`;
}

/**
 * The server a client connects to, for messages: a URL without its password (shown as
 * `***`), or a Cluster's start-up nodes.
 */
export function describeConnection(connection: RedisConnection): string {
  if (isCluster(connection)) {
    // the nodes it was given (private in ioredis's types); the nodes it knows come only
    // after it connected
    const given: unknown = (connection as unknown as { startupNodes?: unknown }).startupNodes;
    const nodes = Array.isArray(given) ? given : connection.nodes('all').map((node) => node.options);
    const addresses = nodes.map((node: unknown) => (typeof node === 'object' && node !== null ? hostPort(node) : String(node)));
    return `the Redis Cluster at ${addresses.join(', ')}`;
  }
  const options = connection.options as ClientOptions;
  if (options.path) return `Redis at redis+unix://${options.path}`;
  const user = options.username ?? '';
  const credentials = options.password ? `${user}:***@` : user ? `${user}@` : '';
  const db = options.db ? `/${options.db}` : '';
  return `Redis at ${options.tls ? 'rediss' : 'redis'}://${credentials}${hostPort(options)}${db}`;
}

/** A reply error is the server answering (e.g. an ACL that forbids PING): it is reachable. */
function isReply(error: unknown): boolean {
  return error instanceof Error && error.name === 'ReplyError';
}

const CLOSED = 'the client was closed (quit or disconnect)';

function reason(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Resolves once `connection` is connected and has answered a PING; rejects with a
 * StoreError naming the server and the reason at its first connection error (refused,
 * timed out, wrong password), when it is closed, or after `timeoutMs` without an answer.
 * A lazy client (`lazyConnect`) is connected by the check.
 */
export async function checkRedisConnection(connection: RedisConnection, timeoutMs: number): Promise<void> {
  const cannot = (why: string, cause?: unknown): StoreError =>
    new StoreError(`Cannot connect to ${describeConnection(connection)}: ${why}`, cause === undefined ? undefined : { cause });
  if (connection.status === 'end') throw cannot(CLOSED);
  const stop = new AbortController();
  const { signal } = stop;
  // while this listener is on, the client's errors are reported here, not printed by
  // ioredis as unhandled
  let firstError: (error: unknown) => void = () => undefined;
  const failed = new Promise<never>((_, reject) => {
    firstError = (error) => reject(cannot(reason(error), error));
  });
  const onError = (error: unknown): void => firstError(error);
  connection.on('error', onError);
  const ended = once(connection, 'end', { signal }).then(() => {
    throw cannot(CLOSED);
  });
  const timedOut = new Promise<never>((_, reject) => {
    const timer = setTimeout(() => reject(cannot(`no answer within ${timeoutMs / 1000} s`)), timeoutMs);
    signal.addEventListener('abort', () => clearTimeout(timer), { once: true });
  });
  const answered = (async (): Promise<void> => {
    // a lazy client connects now; how that goes comes as events
    if (connection.status === 'wait') connection.connect().catch(() => undefined);
    // without an offline queue a command sent before 'ready' fails instead of waiting
    if (connection.status !== 'ready') await once(connection, 'ready', { signal });
    await connection.ping().catch((error: unknown) => {
      if (!isReply(error)) throw cannot(reason(error), error);
    });
  })();
  let reached = false;
  try {
    await Promise.race([answered, failed, ended, timedOut]);
    reached = true;
  } finally {
    stop.abort();
    // the others settle later, or reject on the abort; their outcome no longer matters
    for (const other of [answered, failed, ended, timedOut]) other.catch(() => undefined);
    if (reached) {
      connection.off('error', onError);
    } else {
      // a failed attempt can report more than one error (AUTH, then the ready check):
      // keep them quiet until that attempt's connection is closed
      const quiet = (): void => {
        connection.off('error', onError).off('close', quiet).off('end', quiet);
      };
      connection.on('close', quiet).on('end', quiet);
    }
  }
}
