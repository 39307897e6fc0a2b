/**
 * One queue of a PostgresStore: each seam operation is one statement (sql/*.ts). Reads of
 * a dead-letter queue first settle its parent, as on the other stores, so that items
 * whose last delivery ended are there whether or not anyone uses the parent.
 */
import {
  earlierDue,
  putMeta,
  type PutRequest,
  type QueueBackend,
  type RawGroup,
  type RawItem,
  type RawItemInfo,
  type RawStats,
  type ReadRequest,
  type ReadResult,
  type ReleaseMode,
  type ReleaseOutcome,
} from '../../data/backend.js';
import { clockArg } from '../../data/clock.js';
import type { DedupeRequest, PutResult, RawDedupeHolder } from '../../data/dedupe.js';
import { dedupeClearStatement, dedupeGetStatement, dedupePutStatement } from './sql/dedupe.js';
import { gatedRead, limitCursor, waitOnCursor } from './limits.js';
import { limitSignal, pauseStatement } from './sql/limits.js';
import { deadBase } from '../../data/keys.js';
import type { LeaseGroup } from '../../data/lease.js';
import type { SqlClient } from '../../data/options.js';
import type { Row } from './connection.js';
import { clearStatement } from './sql/clear.js';
import {
  GROUP_LOCK,
  groupListStatement,
  groupPeekStatement,
  groupPutStatement,
  groupTakeStatement,
  unblockStatement,
} from './sql/groups.js';
import { inspectStatement } from './sql/inspect.js';
import { doneStatement, refreshStatement } from './sql/leases.js';
import type { Tables } from './sql/lib.js';
import { maintainStatement } from './sql/maintain.js';
import { peekStatement } from './sql/peek.js';
import { putStatement } from './sql/put.js';
import { readStatement } from './sql/read.js';
import { redriveStatement } from './sql/redrive.js';
import { releaseStatement } from './sql/release.js';
import { statsStatement } from './sql/stats.js';
import type { StoreCore } from './store.js';

/** Lease tokens are positive bigints, written without leading zeros. */
export const TOKEN = /^[1-9][0-9]{0,17}$/;

/**
 * The lease groups as the statements take them: item ids and tokens, pairwise; leases
 * whose token or id cannot be one are left out. An item id is any text: the decimal seq of an
 * item put by putData, or the task id a task was enqueued with.
 */
export function leaseArrays(groups: readonly LeaseGroup[]): { ids: string[]; tokens: string[] } {
  const ids: string[] = [];
  const tokens: string[] = [];
  for (const { entry, ids: groupIds } of groups) {
    if (!TOKEN.test(entry)) continue;
    for (const id of groupIds) {
      // PostgreSQL text holds no NUL: no id has one, so such a lease is no live one
      if (id.includes('\u0000')) continue;
      ids.push(id);
      tokens.push(entry);
    }
  }
  return { ids, tokens };
}

const leaseOf = (row: Row): string => `${row.id as string}:${row.lease as string}`;

export class PostgresQueueBackend implements QueueBackend {
  readonly #core: StoreCore;
  readonly #base: string;
  readonly #deadBase: string;
  readonly #tables: Tables;
  /** For a dead-letter queue: the queue whose dead letters it holds. */
  readonly #parent: PostgresQueueBackend | undefined;

  constructor(core: StoreCore, base: string, parent?: PostgresQueueBackend) {
    this.#core = core;
    this.#base = base;
    this.#deadBase = deadBase(base);
    this.#tables = core.tables(base);
    this.#parent = parent;
  }

  #clock(): string {
    return clockArg(this.#core.clockKey);
  }

  #statement(name: string, build: (t: Tables) => string): ReturnType<StoreCore['statement']> {
    return this.#core.statement(`${name}:${this.#tables.items}`, () => build(this.#tables));
  }

  async putDeduped(request: PutRequest, dedupe: DedupeRequest): Promise<PutResult[]> {
    const { payloads, delayMs, priority, ttlMs, metas, db } = request;
    const visible = delayMs <= 0;
    const notify = db !== undefined ? visible : visible && this.#core.announcer.claim(this.#base);
    const stmt = this.#statement('dedupe-put', dedupePutStatement);
    const values = [
      this.#clock(),
      this.#base,
      delayMs,
      priority,
      ttlMs,
      payloads,
      notify,
      dedupe.keys,
      dedupe.until === 'done',
      dedupe.windowMs,
      metaArray(metas, payloads.length),
    ];
    const rows = await this.#core.run(stmt, values, 'put', db);
    const results = rows.map((row) => ({ id: row.id as string, duplicate: row.duplicate === true }));
    if (visible && db === undefined && results.some((r) => !r.duplicate)) this.#shown(notify);
    return results;
  }

  async dedupeHolder(key: string): Promise<RawDedupeHolder | undefined> {
    const stmt = this.#statement('dedupe-get', dedupeGetStatement);
    const [row] = await this.#core.run(stmt, [this.#clock(), this.#base, key], 'dedupe.get');
    return row && { id: row.holder as string, expiresAtMs: Number(row.expires_at), until: row.until_done === true ? 'done' : 'window' };
  }

  async dedupeClear(key: string): Promise<boolean> {
    const stmt = this.#statement('dedupe-clear', dedupeClearStatement);
    const [row] = await this.#core.run(stmt, [this.#clock(), this.#base, key], 'dedupe.clear');
    return row?.cleared === true;
  }

  async put(request: PutRequest): Promise<string[]> {
    const { payloads, delayMs, priority, ttlMs, metas, db, group } = request;
    const visible = delayMs <= 0;
    const notify = db !== undefined ? visible : visible && this.#core.announcer.claim(this.#base);
    const stmt = group ? this.#statement('group-put', groupPutStatement) : this.#statement('put', putStatement);
    const values = group
      ? [this.#clock(), this.#base, delayMs, payloads, notify, metaArray(metas, payloads.length), group.names, group.onDead === 'block']
      : [this.#clock(), this.#base, delayMs, priority, ttlMs, payloads, notify, metaArray(metas, payloads.length)];
    const rows = await this.#core.run(stmt, values, 'put', db);
    if (visible && db === undefined) this.#shown(notify);
    return rows.map((row) => row.id as string);
  }

  async read(request: ReadRequest): Promise<ReadResult> {
    const parentDueMs = await this.#catchUpParent();
    const { count, visTimeoutMs, attempts, useDead, limits } = request;
    const leasing = visTimeoutMs > 0;
    // taken before the statement is sent: a wake-up heard while it runs then counts
    const cursor = this.#core.wakeups.cursor(this.#base);
    const held = limitCursor(this.#core, this.#base);
    const stmt = leasing ? this.#statement('read', (t) => readStatement(t, true)) : this.#statement('read-once', (t) => readStatement(t, false));
    const values = (n: number): unknown[] => {
      const base = [this.#clock(), this.#base, this.#deadBase, n];
      return leasing ? [...base, visTimeoutMs, attempts, useDead] : base;
    };
    const take = leasing
      ? this.#statement('group-take', (t) => groupTakeStatement(t, true))
      : this.#statement('group-take-once', (t) => groupTakeStatement(t, false));
    const lock = this.#statement('group-lock', () => GROUP_LOCK);
    /**
     * Ordered groups fill what the plain read left of `n`, under the queue's group lock
     * (sql/groups.ts), in `query`'s transaction (after the plain read there).
     */
    const withGroups = async (plain: Row[], n: number, query: (stmt: ReturnType<StoreCore['statement']>, values: unknown[]) => Promise<Row[]>): Promise<Row[]> => {
      const got = plain.filter((row) => row.id !== null);
      if (plain[0]?.grouped !== true || plain[0]?.limited === 'p' || got.length >= n) return plain;
      await query(lock, [this.#base]);
      const grouped = await query(take, [...values(n - got.length), got.length === 0]);
      return grouped.length === 0 ? plain : [...got, ...grouped];
    };
    let rows: Row[];
    if (limits) {
      const gated = await gatedRead(
        this.#core,
        this.#tables,
        this.#base,
        this.#clock(),
        count,
        limits,
        'get',
        async (allowed, query) => withGroups(await query(stmt, values(allowed)), allowed, query),
        (got) => got.filter((row) => row.id !== null).length,
      );
      if ('limited' in gated) {
        return { deliveries: [], nextDueMs: gated.waitMs, cursor: gated.limited === 'rate' ? '' : held, limited: gated.limited };
      }
      rows = gated.rows;
    } else {
      rows = await this.#core.run(stmt, values(count), 'get');
      if (rows[0]?.grouped === true && rows[0]?.limited !== 'p' && rows.filter((row) => row.id !== null).length < count) {
        // a queue with grouped items: the groups' share in a transaction of its own
        let grouped: Row[] = [];
        await this.#core.transaction('get', async (query) => {
          grouped = await withGroups(rows, count, query);
        });
        rows = grouped;
      }
    }
    const first = rows[0];
    if (first?.limited === 'p') return { deliveries: [], nextDueMs: Number(first.next_due), cursor: held, limited: 'paused' };
    if (!first || first.id === null) {
      // a dead-letter reader wakes when a lease of the parent can have ended into it
      return { deliveries: [], nextDueMs: earlierDue(Number(first?.next_due ?? -1), parentDueMs), cursor };
    }
    const deliveries = rows.map((row) => ({
      lease: leasing ? leaseOf(row) : (row.id as string),
      id: row.id as string,
      delivery: (row.failed as number) + 1,
      payload: row.payload as string,
      ...withMeta(row),
    }));
    return { deliveries, nextDueMs: -1, cursor };
  }

  async done(groups: readonly LeaseGroup[], db?: SqlClient): Promise<number> {
    return (await this.doneLeases(groups, db)).length;
  }

  async doneLeases(groups: readonly LeaseGroup[], db?: SqlClient): Promise<string[]> {
    const { ids, tokens } = leaseArrays(groups);
    if (ids.length === 0) return [];
    const stmt = this.#statement('done', doneStatement);
    const rows = await this.#core.run(stmt, [this.#clock(), this.#base, ids, tokens], 'done', db);
    // the statement NOTIFYed other processes when groups may go on; readers here at once
    if (rows.some((row) => row.grouped === true)) this.#core.wakeups.wake(this.#base);
    return rows.map(leaseOf);
  }

  async refresh(groups: readonly LeaseGroup[], visTimeoutMs: number): Promise<string[]> {
    const { ids, tokens } = leaseArrays(groups);
    if (ids.length === 0) return [];
    const stmt = this.#statement('refresh', refreshStatement);
    const rows = await this.#core.run(stmt, [this.#clock(), this.#base, ids, tokens, visTimeoutMs, this.#deadBase], 'refresh');
    // the statement NOTIFYed other processes; readers here are woken at once
    if (rows[0]?.shortened === true) this.#core.wakeups.wake(this.#base);
    if (rows[0]?.dead_shortened === true) this.#core.wakeups.wake(this.#deadBase);
    return rows.map(leaseOf);
  }

  async release(groups: readonly LeaseGroup[], mode: ReleaseMode): Promise<Map<string, ReleaseOutcome>> {
    const outcomes = new Map<string, ReleaseOutcome>();
    // as on the other stores, a call without leases is not sent at all
    if (groups.length === 0) return outcomes;
    const { ids, tokens } = leaseArrays(groups);
    const delayMs = mode.kind === 'fail' ? 0 : mode.delayMs;
    const useDead = mode.kind === 'fail' ? mode.useDead : false;
    const notify = mode.kind !== 'fail' && delayMs <= 0 && this.#core.announcer.claim(this.#base);
    const stmt = this.#statement('release', releaseStatement);
    const values = [this.#clock(), this.#base, this.#deadBase, ids, tokens, mode.kind, useDead, delayMs, notify];
    const rows = await this.#core.run(stmt, values, 'release');
    for (const row of rows) {
      if (row.id === null) {
        if (row.visible === true) this.#shown(notify);
      } else {
        outcomes.set(leaseOf(row), row.outcome as ReleaseOutcome);
      }
    }
    return outcomes;
  }

  async peek(count: number): Promise<RawItem[]> {
    await this.#catchUpParent();
    const stmt = this.#statement('peek', peekStatement);
    let rows = await this.#core.run(stmt, [this.#clock(), this.#base, count], 'peek');
    if (rows.length < count) {
      // what a read would take from the ordered groups after the plain items
      const groupPeek = this.#statement('group-peek', groupPeekStatement);
      rows = [...rows, ...(await this.#core.run(groupPeek, [this.#clock(), this.#base, this.#deadBase, count - rows.length], 'peek'))];
    }
    return rows.map((row) => ({ id: row.id as string, payload: row.payload as string, ...withMeta(row) }));
  }

  async stats(): Promise<RawStats> {
    await this.#catchUpParent();
    const stmt = this.#statement('stats', statsStatement);
    const [row] = await this.#core.run(stmt, [this.#clock(), this.#base, this.#deadBase], 'stats');
    const at = (name: string): number => Number(row?.[name] ?? 0);
    return {
      ready: at('ready'),
      delayed: at('delayed'),
      inflight: at('inflight'),
      dead: at('dead'),
      expired: at('expired'),
      dropped: at('dropped'),
      puts: at('puts'),
      deliveries: at('deliveries'),
      dones: at('dones'),
      expiries: at('expiries'),
      deadLettered: at('dead_lettered'),
      emptyReads: at('empty_reads'),
      headAgeMs: Number(row?.head_age ?? -1),
    };
  }

  async redrive(count: number): Promise<number> {
    await this.#catchUpParent();
    // every item whose last delivery ended is a dead letter by now, and dead letters
    // whose delay ended are visible
    await this.maintain();
    const dead = this.dead() as PostgresQueueBackend;
    await dead.maintain();
    const notify = this.#core.announcer.claim(this.#base);
    const stmt = this.#statement('redrive', redriveStatement);
    const [row] = await this.#core.run(stmt, [this.#clock(), this.#base, this.#deadBase, count, notify], 'redrive');
    const moved = Number(row?.moved ?? 0);
    if (moved > 0) this.#shown(notify);
    return moved;
  }

  async inspect(id: string): Promise<RawItemInfo | undefined> {
    await this.#catchUpParent();
    // PostgreSQL text holds no NUL: no item has such an id
    if (id.includes('\u0000')) return undefined;
    const stmt = this.#statement('inspect', inspectStatement);
    const [row] = await this.#core.run(stmt, [this.#clock(), this.#base, id], 'inspect');
    return row ? itemInfo(row) : undefined;
  }

  async limit(pauseMs: number): Promise<number> {
    const stmt = this.#statement('limits/pause', pauseStatement);
    const [row] = await this.#core.run(stmt, [this.#clock(), this.#base, pauseMs], 'limit');
    // the statement NOTIFYed other processes; readers here are woken at once
    this.#core.wakeups.wake(limitSignal(this.#base));
    return Number(row?.paused_until ?? 0);
  }

  async groups(): Promise<RawGroup[]> {
    await this.maintain();
    const stmt = this.#statement('group-list', groupListStatement);
    const rows = await this.#core.run(stmt, [this.#clock(), this.#base, this.#deadBase], 'groups');
    return rows.map((row) => ({
      group: row.grp as string,
      state: row.state as RawGroup['state'],
      depth: Number(row.depth),
      inflight: Number(row.inflight),
      headAgeMs: Number(row.head_age),
    }));
  }

  async unblockGroups(groups: readonly string[]): Promise<number> {
    if (groups.length === 0) return 0;
    const stmt = this.#statement('group-unblock', unblockStatement);
    const [row] = await this.#core.run(stmt, [this.#clock(), this.#base, this.#deadBase, groups], 'unblockGroups');
    const unblocked = Number(row?.unblocked ?? 0);
    // the statement NOTIFYed other processes; readers here are woken at once
    if (unblocked > 0) this.#core.wakeups.wake(this.#base);
    return unblocked;
  }

  async clear(): Promise<void> {
    const stmt = this.#statement('clear', clearStatement);
    await this.#core.run(stmt, [this.#base, this.#deadBase], 'clear');
  }

  async waitForChange(cursor: string, timeoutMs: number, signal?: AbortSignal): Promise<void> {
    if (this.#core.closed) return;
    await waitOnCursor(this.#core, this.#base, cursor, timeoutMs, signal);
  }

  async waitThenRead(cursor: string, timeoutMs: number, request: ReadRequest, signal?: AbortSignal): Promise<ReadResult | undefined> {
    await this.waitForChange(cursor, timeoutMs, signal);
    // a wait ended by the store's close() returns what there is, as an aborted one does
    if (signal?.aborted || this.#core.closed) return undefined;
    return this.read(request);
  }

  dead(): QueueBackend {
    return new PostgresQueueBackend(this.#core, this.#deadBase, this);
  }

  /**
   * Settles this queue's rows whose time came (sql/maintain.ts). Resolves the ms until
   * its next lease deadline, -1 when nothing is in flight.
   */
  async maintain(): Promise<number> {
    const stmt = this.#statement('maintain', maintainStatement);
    const [row] = await this.#core.run(stmt, [this.#clock(), this.#base, this.#deadBase], 'maintain');
    return Number(row?.next_lease ?? -1);
  }

  /** A dead-letter queue settles its parent first; resolves the parent's next lease deadline in ms (-1: none, or no parent). */
  async #catchUpParent(): Promise<number> {
    return (await this.#parent?.maintain()) ?? -1;
  }

  #shown(notified: boolean): void {
    this.#core.shown(this.#base, notified);
  }
}

/**
 * The put's metadata as the statement takes it, one entry per payload: none at all (an
 * empty array, the statement reads missing entries as '') when no item has any.
 */
function metaArray(metas: PutRequest['metas'], count: number): string[] {
  if (metas === undefined || metas.length === 0) return [];
  return Array.from({ length: count }, (_, i) => putMeta(metas, i));
}

/** `{ meta }` of a row whose item has metadata, `{}` otherwise (as the other stores leave it out). */
export function withMeta(row: Row): { meta?: string } {
  const meta = row.meta as string | null | undefined;
  return meta ? { meta } : {};
}

/** An item's state from its row, by the rules of sql/lib.ts; undefined when it has left the queue. */
function itemInfo(row: Row): RawItemInfo | undefined {
  const now = row.now as number;
  const dueAt = row.due_at as number | null;
  const expiresAt = row.expires_at as number | null;
  const lease = row.lease as string | null;
  const about = { id: row.id as string, payload: row.payload as string, priority: row.priority as number };
  let failed = row.failed as number;
  if (dueAt === null) {
    if (expiresAt !== null && expiresAt <= now) return undefined;
    return { ...about, state: 'ready', failedDeliveries: failed };
  }
  if (dueAt > now) {
    return lease === null
      ? { ...about, state: 'delayed', failedDeliveries: failed, until: dueAt }
      : { ...about, state: 'inflight', failedDeliveries: failed, until: dueAt, lease: `${about.id}:${lease}` };
  }
  if (lease !== null) {
    failed += 1;
    if (failed >= (row.attempts as number)) return undefined;
  }
  const ttl = row.ttl as number;
  if (ttl > 0 && dueAt + ttl <= now) return undefined;
  return { ...about, state: 'ready', failedDeliveries: failed };
}
