/**
 * The Redis backend: each operation is one Lua script (src/stores/redis/scripts), called by SHA with
 * the queue's 25 keys. Blocking waits use duplicate connections that this store opens
 * lazily, pools, and closes in `close()`; the caller's connection is never closed.
 */
import type { Cluster, Redis } from 'ioredis';
import { isNoScript, pipelineScript, runScript, toStoreError, type RedisConnection, type ScriptName } from './scripts/loader.js';
import {
  earlierDue,
  waitThenReadInTwoSteps,
  type PutRequest,
  type QueueBackend,
  type QueueStore,
  type RawItem,
  type RawItemInfo,
  type RawGroup,
  type RawStats,
  type ReadRequest,
  type ReadResult,
  type ReleaseMode,
  type ReleaseOutcome,
} from '../../data/backend.js';
import { clockArg } from '../../data/clock.js';
import { settleWithin } from '../../sleep.js';
import { checkRedisConnection } from './connection-check.js';
import { warnOnUnsafeEviction } from './eviction-check.js';
import { parseRecord } from './record.js';
import { deadBase } from '../../data/keys.js';
import { clearKeys, registryKey, scriptKeys } from './keys.js';
import { inspectRedis } from './inspect.js';
import { signalStream } from './limits.js';
import { limitedBy, limitsArg } from '../../data/limits.js';
import { RedisTaskStore } from './task-store.js';
import type { DedupeRequest, PutResult, RawDedupeHolder } from '../../data/dedupe.js';
import { holderOf, putDedupeArgs, putDedupeResult } from './dedupe.js';
import type { TaskStore, TaskStoreProvider } from '../../tasks/task-store.js';
import { collectLeases, groupArgs, leaseOf, type LeaseGroup } from '../../data/lease.js';

const dropped = new WeakSet<RedisConnection>();

/** HSCAN COUNT of one page of dq.groups(): group-held fields looked at per script call. */
const GROUPS_PAGE = 1000;

/** How long close() waits for blocking calls an abort woke, ms. */
const WOKEN_GRACE_MS = 2000;

/**
 * Disconnects a connection of this store once. ioredis arms a 2 s timer on every
 * disconnect() that only the socket's close event clears; a second call after the close
 * leaves a timer that keeps the process alive for 2 s after everything was closed.
 */
function dropConnection(connection: RedisConnection): void {
  if (dropped.has(connection)) return;
  dropped.add(connection);
  // a connection lost for good (blocking connections do not reconnect) is closed already
  if (connection.status !== 'end') connection.disconnect();
}

/** The get script's arguments after the clock; the limits only for a limited read. */
function readArgs({ count, visTimeoutMs, attempts, useDead, limits }: ReadRequest): (string | number)[] {
  const args = [count, visTimeoutMs, attempts, useDead ? 1 : 0];
  return limits ? [...args, limitsArg(limits)] : args;
}

/** The get script's reply: { wait_ms, cursor, entry, record... }, or { wait_ms, cursor, reason } for a limited read. */
function readResult(reply: unknown): ReadResult {
  const [nextDueMs, cursor, entry, ...records] = reply as [number, string, string, ...string[]];
  if (records.length === 0) {
    const limited = limitedBy(entry);
    return limited ? { deliveries: [], nextDueMs, cursor, limited } : { deliveries: [], nextDueMs, cursor };
  }
  // the script returns the batch's entry once; a lease is "<id>:<entry>"
  const deliveries = records.map((raw) => {
    const record = parseRecord(raw);
    const delivery = {
      lease: entry === '' ? record.id : leaseOf(record.id, entry),
      id: record.id,
      delivery: record.deliveries + 1,
      payload: record.payload,
    };
    return record.meta === '' ? delivery : { ...delivery, meta: record.meta };
  });
  return { deliveries, nextDueMs, cursor };
}

/**
 * The release script's arguments after the clock. `unread` is this backend's own mode:
 * the hand-back of a read whose reply its caller never saw (see release.lua).
 */
function releaseArgs(groups: readonly LeaseGroup[], mode: ReleaseMode | { readonly kind: 'unread' }): (string | number)[] {
  const head =
    mode.kind === 'fail'
      ? [0, 'fail', mode.useDead ? '1' : '0']
      : [mode.kind === 'unread' ? 0 : mode.delayMs, mode.kind, ''];
  return [...head, ...groupArgs(groups)];
}

/**
 * A new connection for blocking calls, like `connection` but never sending a command
 * twice. ioredis re-sends the commands in flight when it reconnects (a Cluster after its
 * failover delay), and a re-sent `XREAD BLOCK` waits its whole duration again, past the
 * caller's `wait`. Without reconnection its commands fail at once when the connection
 * is lost, and the caller's wait goes on for the time left on another one (see
 * `blocking`'s `lost`).
 */
function blockingConnection(connection: RedisConnection): RedisConnection {
  if (connection.isCluster) {
    return (connection as Cluster).duplicate([], { retryDelayOnFailover: 0, clusterNodeRetryStrategy: () => null });
  }
  return (connection as Redis).duplicate({ retryStrategy: () => null });
}

/** Whether ioredis failed a command because its connection was lost with the command in flight. */
function isConnectionLost(error: unknown): boolean {
  return error instanceof Error && error.message === CONNECTION_LOST;
}

/** The text of ioredis's error for the commands in flight on a connection that closed. */
const CONNECTION_LOST = 'Connection is closed.';

/** How a blocking call ends besides its command returning (see {@link RedisStore.blocking}). */
interface BlockingOptions<R> {
  /** Ends the call early. */
  readonly signal?: AbortSignal | undefined;
  /** Ends the blocking command early on abort, so that what is queued behind it still runs. */
  readonly wake?: () => Promise<unknown>;
  /**
   * The result when the connection, once ready, is lost with the command in flight (a
   * network failure, a proxy, `CLIENT KILL`): a wake-up, after which the caller reads
   * again and blocks for the time left.
   */
  readonly lost: () => Promise<R | undefined>;
}

/** A BLOCK argument for `timeoutMs`: whole ms, at least 1 (0 would block forever). */
function blockMs(timeoutMs: number): number {
  return Math.max(1, Math.ceil(timeoutMs));
}

/** Wraps a caller-owned ioredis connection (Redis or Cluster) as a queue store. */
export class RedisStore implements QueueStore, TaskStoreProvider {
  readonly connection: RedisConnection;
  readonly #idle: RedisConnection[] = [];
  readonly #busy = new Set<RedisConnection>();
  /** Blocking calls woken by an abort and still finishing (see blocking). */
  readonly #woken = new Set<Promise<void>>();
  #closed = false;

  constructor(connection: RedisConnection) {
    this.connection = connection;
    // once per connection; never fails, never blocks (see eviction-check.ts)
    void warnOnUnsafeEviction(connection);
  }

  open(base: string): QueueBackend {
    return new RedisQueueBackend(this, base);
  }

  taskStore(): TaskStore {
    return new RedisTaskStore(this);
  }

  checkConnection(timeoutMs: number): Promise<void> {
    return checkRedisConnection(this.connection, timeoutMs);
  }

  /**
   * Runs `fn` on a blocking connection of its own. An abort disconnects it (`fn`'s result
   * is then lost and this resolves `undefined`), or, given `wake`, calls `wake` to end
   * the blocking command early and still resolves with what `fn` returns, so that a
   * command queued behind it is not lost; when `wake` fails it disconnects. When the
   * connection is lost under `fn` (its commands are never sent again: see
   * blockingConnection), it is dropped and this resolves what `lost` gives; a connection
   * that never got ready is a StoreError instead, so that a server refusing connections
   * fails the call rather than making it try again and again.
   */
  async blocking<R>(fn: (connection: RedisConnection) => Promise<R>, options: BlockingOptions<R>): Promise<R | undefined> {
    const { signal, wake, lost } = options;
    if (this.#closed) return undefined;
    let connection = this.#idle.pop();
    // an idle connection lost meanwhile is of no use (it does not reconnect)
    while (connection && connection.status === 'end') connection = this.#idle.pop();
    connection ??= blockingConnection(this.connection);
    let ready = connection.status === 'ready';
    const onReady = (): void => {
      ready = true;
    };
    connection.once('ready', onReady);
    this.#busy.add(connection);
    let aborted = false;
    let settle = (): void => undefined;
    const settled = new Promise<void>((resolve) => {
      settle = resolve;
    });
    const disconnect = (): void => {
      aborted = true;
      dropConnection(connection);
    };
    const onAbort = (): void => {
      if (!wake) return disconnect();
      // close() lets a woken call finish: what runs behind the wait may hold leases
      this.#woken.add(settled);
      wake().catch(disconnect);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      if (signal?.aborted) return undefined;
      return await fn(connection);
    } catch (error) {
      if (aborted || this.#closed) return undefined;
      aborted = true;
      if (ready && isConnectionLost(error)) return await lost();
      throw toStoreError(error, 'a blocking wait');
    } finally {
      signal?.removeEventListener('abort', onAbort);
      connection.off('ready', onReady);
      this.#busy.delete(connection);
      if (aborted || this.#closed) dropConnection(connection);
      else this.#idle.push(connection);
      this.#woken.delete(settled);
      settle();
    }
  }

  /**
   * Blocks until something is put to the queue at `base` after `cursor` (XREAD on its
   * signal stream, at most `timeoutMs`), then runs `script`, in one round trip: the script
   * waits in Redis behind the blocking XREAD and runs the moment it returns, so a put wakes
   * the reader and the script takes its items at once. `handle` gets the script's reply
   * (also when `signal` aborted meanwhile: the script ran, and what it took must be dealt
   * with). Resolves `undefined` when the wait was cut off before the script could run.
   * When the blocking connection is lost, `lost` takes over (it runs the script again on
   * the caller's connection, so the caller then blocks again only for the time left).
   */
  async waitThenRun<R>(
    base: string,
    cursor: string,
    timeoutMs: number,
    script: { readonly name: ScriptName; readonly keys: readonly string[]; readonly args: readonly (string | number)[] },
    handle: (reply: unknown) => Promise<R>,
    signal: AbortSignal | undefined,
    lost: () => Promise<R | undefined>,
  ): Promise<R | undefined> {
    const { key, id } = signalStream(base, cursor);
    const main = this.connection;
    const args = [clockArg(main), ...script.args];
    return this.blocking(
      async (connection): Promise<R> => {
        const pipeline = connection.pipeline().xread('COUNT', 1, 'BLOCK', blockMs(timeoutMs), 'STREAMS', key, id);
        pipelineScript(pipeline, script.name, script.keys, args);
        const replies = (await pipeline.exec()) ?? [];
        // the script's reply is what counts (a failed XREAD still let it run)
        const [error, got] = replies[1] ?? [new Error(`no reply to ${script.name}`)];
        // a lost connection goes to `lost`: its script never ran, or its reply is lost as
        // any reply can be (what it leased comes back when the lease expires)
        if (error && isConnectionLost(error)) throw error;
        if (error && !isNoScript(error)) throw toStoreError(error, script.name);
        return handle(error ? await runScript(connection, script.name, script.keys, args) : got);
      },
      {
        signal,
        // an abort wakes the XREAD as a put would (waiters allow spurious wake-ups) rather
        // than dropping the connection, so that a script that already took items is seen.
        // NOMKSTREAM: a queue nobody ever put to gets no key; its wait is dropped instead
        wake: async () => {
          if ((await main.xadd(key, 'NOMKSTREAM', 'MAXLEN', '~', '1', '*', 'v', '1')) === null) throw new Error('no stream');
        },
        lost,
      },
    );
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
    // woken waits finish within a round trip or two; a stuck one is cut off
    if (this.#woken.size > 0) await settleWithin(Promise.all(this.#woken), WOKEN_GRACE_MS);
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
   * Resolves the ms until the parent's next lease deadline (-1: none, or no parent).
   */
  async #catchUpParent(): Promise<number> {
    if (!this.#parentKeys) return -1;
    const connection = this.#store.connection;
    return (await runScript(connection, 'maintain', this.#parentKeys, [clockArg(connection)])) as number;
  }

  async put(request: PutRequest): Promise<string[]> {
    const { delayMs, priority, ttlMs, payloads, metas = [], group } = request;
    if (group) {
      const { names, onDead } = group;
      return (await this.#run('group_put', [delayMs, onDead, metas.length, ...metas, names.length, ...names, ...payloads])) as string[];
    }
    return (await this.#run('put', [delayMs, priority, ttlMs, metas.length, ...metas, ...payloads])) as string[];
  }

  async unblockGroups(groups: readonly string[]): Promise<number> {
    return (await this.#run('group_unblock', groups)) as number;
  }

  async groups(): Promise<RawGroup[]> {
    const groups: RawGroup[] = [];
    let cursor = '0';
    do {
      const [now, next, ...rows] = (await this.#run('groups', [cursor, GROUPS_PAGE])) as [number, string, ...(string | number)[]];
      for (let i = 0; i + 4 < rows.length; i += 5) {
        const born = Number(rows[i + 4]);
        groups.push({
          group: String(rows[i]),
          state: String(rows[i + 1]) as RawGroup['state'],
          depth: Number(rows[i + 2]),
          inflight: Number(rows[i + 3]),
          headAgeMs: born < 0 ? -1 : Math.max(0, now - born),
        });
      }
      cursor = next;
    } while (cursor !== '0');
    return groups;
  }

  async putDeduped(request: PutRequest, dedupe: DedupeRequest): Promise<PutResult[]> {
    return putDedupeResult(await this.#run('put_dedupe', putDedupeArgs(request, dedupe)));
  }

  async dedupeHolder(key: string): Promise<RawDedupeHolder | undefined> {
    return holderOf(await this.#run('dedupe', ['get', key]));
  }

  async dedupeClear(key: string): Promise<boolean> {
    return (await this.#run('dedupe', ['clear', key])) === 1;
  }

  async read(request: ReadRequest): Promise<ReadResult> {
    const parentDueMs = await this.#catchUpParent();
    const result = readResult(await this.#run('get', readArgs(request)));
    // a dead-letter reader wakes when a lease of the parent can have expired into it
    return { ...result, nextDueMs: earlierDue(result.nextDueMs, parentDueMs) };
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
    const reply = (await this.#run('release', releaseArgs(groups, mode))) as string[];
    for (let i = 0; i < reply.length; i += 2) outcomes.set(reply[i] as string, reply[i + 1] as ReleaseOutcome);
    return outcomes;
  }

  async peek(count: number): Promise<RawItem[]> {
    await this.#catchUpParent();
    const records = (await this.#run('peek', [count])) as string[];
    return records.map((record) => {
      const { id, payload, meta } = parseRecord(record);
      return meta === '' ? { id, payload } : { id, payload, meta };
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

  async limit(pauseMs: number): Promise<number> {
    return (await this.#run('limit', [pauseMs])) as number;
  }

  async clear(): Promise<void> {
    const connection = this.#store.connection;
    // a dead-letter queue's own keys include its (never used) dead letters already; a
    // task queue's records go with its items (see clearKeys)
    const keys = this.#parentKeys ? this.#keys : clearKeys(this.#base);
    await runScript(connection, 'clear', keys, [clockArg(connection)]);
  }

  async waitForChange(cursor: string, timeoutMs: number, signal?: AbortSignal): Promise<void> {
    const { key, id } = signalStream(this.#base, cursor);
    await this.#store.blocking(
      (connection) => connection.xread('COUNT', 1, 'BLOCK', blockMs(timeoutMs), 'STREAMS', key, id),
      // a lost connection is a spurious wake-up: the caller reads again
      { signal, lost: async () => undefined },
    );
  }

  async waitThenRead(cursor: string, timeoutMs: number, request: ReadRequest, signal?: AbortSignal): Promise<ReadResult | undefined> {
    if (this.#parentKeys) {
      // a dead-letter queue's read is two scripts (the parent's maintenance first)
      return waitThenReadInTwoSteps(this, cursor, timeoutMs, request, signal);
    }
    const reply = await this.#store.waitThenRun(
      this.#base,
      cursor,
      timeoutMs,
      { name: 'get', keys: this.#keys, args: readArgs(request) },
      async (got): Promise<ReadResult> => {
        const result = readResult(got);
        if (!signal?.aborted || result.deliveries.length === 0 || request.visTimeoutMs <= 0) return result;
        // aborted after the read ran: its leased items go back, no attempt used and not
        // counted as delivered (items read at most once have left the queue: the caller
        // gets them after all)
        const groups = collectLeases('leases', result.deliveries.map((d) => d.lease));
        await this.#run('release', releaseArgs(groups, { kind: 'unread' }));
        return { ...result, deliveries: [] };
      },
      signal,
      // a lost connection ends the wait early: the read runs again on the caller's
      // connection, and the caller blocks again only for the time left
      async () => (signal?.aborted ? undefined : this.read(request)),
    );
    if (reply === undefined || (signal?.aborted && reply.deliveries.length === 0)) return undefined;
    return reply;
  }

  dead(): QueueBackend {
    return new RedisQueueBackend(this.#store, deadBase(this.#base), this.#base);
  }
}
