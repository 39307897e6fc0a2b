/**
 * The Redis backend: each operation is one Lua script (src/scripts), called by SHA with
 * the queue's 20 keys. Blocking waits use duplicate connections that this store opens
 * lazily, pools, and closes in `close()`; the caller's connection is never closed.
 */
import { runScript, toStoreError, type RedisConnection, type ScriptName } from '../scripts/loader.js';
import type {
  PutRequest,
  QueueBackend,
  QueueStore,
  RawItem,
  RawItemInfo,
  RawStats,
  ReadRequest,
  ReadResult,
  ReleaseMode,
  ReleaseOutcome,
} from './backend.js';
import { clockArg } from './clock.js';
import { warnOnUnsafeEviction } from './eviction-check.js';
import { parseRecord } from './codec.js';
import { deadBase, queueKey, registryKey, scriptKeys } from './keys.js';
import { inspectRedis } from './inspect.js';
import { groupArgs, leaseOf, type LeaseGroup } from './lease.js';

const dropped = new WeakSet<RedisConnection>();

/**
 * Disconnects a connection of this store once. ioredis arms a 2 s timer on every
 * disconnect() that only the socket's close event clears; a second call after the close
 * leaves a timer that keeps the process alive for 2 s after everything was closed.
 */
function dropConnection(connection: RedisConnection): void {
  if (dropped.has(connection)) return;
  dropped.add(connection);
  connection.disconnect();
}

/** Wraps a caller-owned ioredis connection (Redis or Cluster) as a queue store. */
export class RedisStore implements QueueStore {
  readonly connection: RedisConnection;
  readonly #idle: RedisConnection[] = [];
  readonly #busy = new Set<RedisConnection>();
  #closed = false;

  constructor(connection: RedisConnection) {
    this.connection = connection;
    // once per connection; never fails, never blocks (see eviction-check.ts)
    void warnOnUnsafeEviction(connection);
  }

  open(base: string): QueueBackend {
    return new RedisQueueBackend(this, base);
  }

  /** Runs `fn` on a blocking connection of its own; an abort disconnects it. */
  async blocking<R>(fn: (connection: RedisConnection) => Promise<R>, signal?: AbortSignal): Promise<R | undefined> {
    if (this.#closed) return undefined;
    const connection = this.#idle.pop() ?? this.connection.duplicate();
    this.#busy.add(connection);
    let aborted = false;
    const onAbort = (): void => {
      aborted = true;
      dropConnection(connection);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      if (signal?.aborted) return undefined;
      return await fn(connection);
    } catch (error) {
      if (aborted || this.#closed) return undefined;
      aborted = true;
      throw toStoreError(error, 'a blocking wait');
    } finally {
      signal?.removeEventListener('abort', onAbort);
      this.#busy.delete(connection);
      if (aborted || this.#closed) dropConnection(connection);
      else this.#idle.push(connection);
    }
  }

  async registerQueue(prefix: string, name: string): Promise<void> {
    await this.#registry('registering a queue', (key) => this.connection.sadd(key, name), prefix);
  }

  async forgetQueue(prefix: string, name: string): Promise<void> {
    await this.#registry('forgetting a queue', (key) => this.connection.srem(key, name), prefix);
  }

  async queueNames(prefix: string): Promise<string[]> {
    const names = await this.#registry('listing queues', (key) => this.connection.smembers(key), prefix);
    return names.sort();
  }

  async #registry<R>(operation: string, command: (key: string) => Promise<R>, prefix: string): Promise<R> {
    try {
      return await command(registryKey(prefix));
    } catch (error) {
      throw toStoreError(error, operation);
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const connection of [...this.#idle, ...this.#busy]) dropConnection(connection);
    this.#idle.length = 0;
    this.#busy.clear();
  }
}

class RedisQueueBackend implements QueueBackend {
  readonly #store: RedisStore;
  readonly #base: string;
  readonly #keys: string[];
  /** For a dead-letter queue: the keys of the queue whose dead letters it holds. */
  readonly #parentKeys: string[] | undefined;

  constructor(store: RedisStore, base: string, parentBase?: string) {
    this.#store = store;
    this.#base = base;
    this.#keys = scriptKeys(base);
    this.#parentKeys = parentBase === undefined ? undefined : scriptKeys(parentBase);
  }

  #run(name: ScriptName, args: readonly (string | number)[]): Promise<unknown> {
    const connection = this.#store.connection;
    return runScript(connection, name, this.#keys, [clockArg(connection), ...args]);
  }

  /**
   * A dead-letter queue first brings its parent up to date, so that items whose last
   * delivery ended are here whether or not anyone uses the parent. A separate step, not
   * atomic with the read that follows; it only ever moves items forward in time.
   */
  async #catchUpParent(): Promise<void> {
    if (!this.#parentKeys) return;
    const connection = this.#store.connection;
    await runScript(connection, 'maintain', this.#parentKeys, [clockArg(connection)]);
  }

  async put(request: PutRequest): Promise<string[]> {
    const { delayMs, priority, ttlMs, payloads } = request;
    return (await this.#run('put', [delayMs, priority, ttlMs, ...payloads])) as string[];
  }

  async read(request: ReadRequest): Promise<ReadResult> {
    await this.#catchUpParent();
    const { count, visTimeoutMs, attempts, useDead } = request;
    const reply = (await this.#run('get', [count, visTimeoutMs, attempts, useDead ? 1 : 0])) as [
      number,
      string,
      string,
      ...string[],
    ];
    // the script returns the batch's entry once; a lease is "<id>:<entry>"
    const entry = reply[2];
    const deliveries = [];
    for (let i = 3; i < reply.length; i += 1) {
      const record = parseRecord(reply[i] as string);
      deliveries.push({
        lease: entry === '' ? record.id : leaseOf(record.id, entry),
        id: record.id,
        delivery: record.deliveries + 1,
        payload: record.payload,
      });
    }
    return { deliveries, nextDueMs: reply[0], cursor: reply[1] };
  }

  async done(groups: readonly LeaseGroup[]): Promise<number> {
    if (groups.length === 0) return 0;
    return (await this.#run('done', ['count', ...groupArgs(groups)])) as number;
  }

  async doneLeases(groups: readonly LeaseGroup[]): Promise<string[]> {
    if (groups.length === 0) return [];
    return (await this.#run('done', ['leases', ...groupArgs(groups)])) as string[];
  }

  async refresh(groups: readonly LeaseGroup[], visTimeoutMs: number): Promise<string[]> {
    if (groups.length === 0) return [];
    return (await this.#run('refresh', [visTimeoutMs, ...groupArgs(groups)])) as string[];
  }

  async release(groups: readonly LeaseGroup[], mode: ReleaseMode): Promise<Map<string, ReleaseOutcome>> {
    const outcomes = new Map<string, ReleaseOutcome>();
    if (groups.length === 0) return outcomes;
    const args =
      mode.kind === 'fail' ? [0, 'fail', mode.useDead ? '1' : '0'] : [mode.delayMs, mode.kind, ''];
    const reply = (await this.#run('release', [...args, ...groupArgs(groups)])) as string[];
    for (let i = 0; i < reply.length; i += 2) outcomes.set(reply[i] as string, reply[i + 1] as ReleaseOutcome);
    return outcomes;
  }

  async peek(count: number): Promise<RawItem[]> {
    await this.#catchUpParent();
    const records = (await this.#run('peek', [count])) as string[];
    return records.map((record) => {
      const { id, payload } = parseRecord(record);
      return { id, payload };
    });
  }

  async stats(): Promise<RawStats> {
    await this.#catchUpParent();
    const reply = (await this.#run('stats', [])) as number[];
    const at = (i: number): number => reply[i] ?? 0;
    return {
      ready: at(0),
      delayed: at(1),
      inflight: at(2),
      dead: at(3),
      expired: at(4),
      dropped: at(5),
      puts: at(6),
      deliveries: at(7),
      dones: at(8),
      expiries: at(9),
      deadLettered: at(10),
      emptyReads: at(11),
      headAgeMs: reply[12] ?? -1,
    };
  }

  async redrive(count: number): Promise<number> {
    await this.#catchUpParent();
    return (await this.#run('redrive', [count])) as number;
  }

  async inspect(id: string): Promise<RawItemInfo | undefined> {
    await this.#catchUpParent();
    // the state reported should reflect the clock: a delay that ended means ready
    await this.#run('maintain', []);
    try {
      return await inspectRedis(this.#store.connection, this.#base, id);
    } catch (error) {
      throw toStoreError(error, 'inspect');
    }
  }

  async clear(): Promise<void> {
    await this.#run('clear', []);
  }

  async waitForChange(cursor: string, timeoutMs: number, signal?: AbortSignal): Promise<void> {
    const key = queueKey(this.#base, 'signal');
    await this.#store.blocking(
      (connection) => connection.xread('BLOCK', Math.max(1, Math.ceil(timeoutMs)), 'STREAMS', key, cursor),
      signal,
    );
  }

  dead(): QueueBackend {
    return new RedisQueueBackend(this.#store, deadBase(this.#base), this.#base);
  }
}
