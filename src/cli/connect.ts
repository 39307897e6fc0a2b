/**
 * The CLI's own Redis connection (every command but `worker`, whose module owns its
 * client, when the store is a Redis: see store.ts). Tuned to fail fast: one connection attempt with a short timeout and no
 * reconnects, so an unreachable Redis ends the command with exit code 2 within seconds
 * instead of ioredis retrying forever.
 */
import { Redis } from 'ioredis';
import { ConnectionFailedError, UsageError } from './failures.js';

export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

/** ms to wait for the TCP connection (and TLS handshake) before giving up. */
const CONNECT_TIMEOUT_MS = 3000;

/** `raw` if it is a redis: or rediss: URL; `source` names where it came from, for the message. */
export function checkedUrl(raw: string, source: string): string {
  if (!URL.canParse(raw) || !['redis:', 'rediss:'].includes(new URL(raw).protocol)) {
    throw new UsageError(`Expected ${source} to be a redis:// or rediss:// URL, got ${JSON.stringify(redact(raw))}`);
  }
  return raw;
}

/** The URL without its password, for messages. */
export function redact(raw: string): string {
  try {
    const url = new URL(raw);
    if (!url.password) return raw;
    url.password = '***';
    return url.href;
  } catch {
    return raw.replace(/\/\/([^@/]*)@/, '//***@');
  }
}

/** Longest pause between reconnection attempts of a lasting connection, ms. */
const MAX_RECONNECT_DELAY_MS = 2000;

/**
 * A connection to `url` that is up when this resolves: the first attempt fails fast
 * (ConnectionFailedError). With `reconnect`, a connection lost later is retried for as
 * long as it takes, and commands issued meanwhile fail at once instead of queueing, so a
 * long-running command (serve) answers "Redis unreachable" and recovers by itself.
 */
export async function connectRedis(url: string, options: { reconnect?: boolean } = {}): Promise<Redis> {
  let lastError: Error | undefined;
  let connected = false;
  const redis = new Redis(url, {
    lazyConnect: true,
    connectTimeout: CONNECT_TIMEOUT_MS,
    maxRetriesPerRequest: 1,
    retryStrategy: (times) => (options.reconnect && connected ? Math.min(times * 100, MAX_RECONNECT_DELAY_MS) : null),
    ...(options.reconnect ? { enableOfflineQueue: false } : {}),
  });
  // without a listener ioredis prints "Unhandled error event". A failure to connect is
  // reported below; a later one rejects the command that was under way.
  redis.on('error', (error: Error) => {
    lastError = error;
  });
  try {
    await redis.connect();
  } catch (error) {
    redis.disconnect();
    // connect() rejects with a generic "Connection is closed"; the error event says why
    const cause = lastError ?? error;
    const reason = cause instanceof Error ? cause.message : String(cause);
    throw new ConnectionFailedError(`Cannot connect to Redis at ${redact(url)}: ${reason}`, { cause });
  }
  connected = true;
  return redis;
}

/** Closes a connection of connectRedis: QUIT, or a hard disconnect when it is already broken. */
export async function closeRedis(redis: Redis): Promise<void> {
  if (redis.status === 'ready') {
    // a QUIT that fails leaves nothing to clean up but the socket, closed either way
    await redis.quit().catch(() => redis.disconnect());
  } else {
    redis.disconnect();
  }
}

/** Connects to `url`, runs `use`, and always closes the connection afterwards. */
export async function withRedis<R>(url: string, use: (redis: Redis) => Promise<R>): Promise<R> {
  const redis = await connectRedis(url);
  try {
    return await use(redis);
  } finally {
    await closeRedis(redis);
  }
}
