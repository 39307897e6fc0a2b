/**
 * The overview's queue list as `GET /api/queues` serves it: every queue's stats read now,
 * filtered by name, sorted by any column, one page of it, and each row's latest rates and
 * sparkline from the history. Sorting and paging happen here, not in the page, so that a
 * prefix of a thousand queues sends the browser one page of rows.
 */
import * as check from '../validate.js';
import { HISTORY_WINDOWS, type Column, type History, type HistoryWindow, type RateField } from './history.js';
import type { QueueReading } from './source.js';

/** The columns the list sorts by: a stats() field, or a rate of the history. */
export const SORT_KEYS = [
  'name',
  'ready',
  'delayed',
  'inflight',
  'dead',
  'headAge',
  'putsRate',
  'deliveriesRate',
  'donesRate',
  'expiries',
  'deadLettered',
] as const;

export type SortKey = (typeof SORT_KEYS)[number];

const RATE_KEYS: Partial<Record<SortKey, RateField>> = { putsRate: 'puts', deliveriesRate: 'deliveries', donesRate: 'dones' };

/** What a list request asks for. */
export interface ListQuery {
  /** Absent: the order the queues are listed in (by name, or as the `queues` option gives them). */
  readonly sort?: SortKey;
  readonly order: 'asc' | 'desc';
  readonly offset: number;
  /** Absent: every queue from `offset` on. */
  readonly limit?: number;
  /** Only names containing this, ignoring case. */
  readonly filter?: string;
  /** With a window, each row carries a sparkline of its ready count over it. */
  readonly window?: HistoryWindow;
}

/** A value of a fixed set, or a range error naming the parameter. */
export function oneOf<T extends string>(name: string, value: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(value)) {
    throw check.rangeError(name, `one of ${allowed.map((a) => `"${a}"`).join(', ')}`, value);
  }
  return value as T;
}

/** An integer query parameter: its text read as a number. */
export function integerParam(params: URLSearchParams, name: string, min: number, max: number): number | undefined {
  const raw = params.get(name);
  return raw === null ? undefined : check.integerIn(name, raw.trim() === '' ? Number.NaN : Number(raw), min, max);
}

/** A `window` query parameter, if given. */
export function windowParam(params: URLSearchParams): HistoryWindow | undefined {
  const raw = params.get('window');
  return raw === null ? undefined : oneOf('window', raw, Object.keys(HISTORY_WINDOWS) as HistoryWindow[]);
}

/** The list query of `params`; argument errors name the parameter. */
export function listQuery(params: URLSearchParams): ListQuery {
  const sortRaw = params.get('sort');
  const sort = sortRaw === null ? undefined : oneOf('sort', sortRaw, SORT_KEYS);
  const orderRaw = params.get('order');
  const order = orderRaw === null ? (sort === undefined || sort === 'name' ? 'asc' : 'desc') : oneOf('order', orderRaw, ['asc', 'desc'] as const);
  const filterRaw = params.get('filter');
  const filter = filterRaw === null || filterRaw === '' ? undefined : check.text('filter', filterRaw, { maxLength: 256 });
  const limit = integerParam(params, 'limit', 1, 1000);
  const window = windowParam(params);
  return {
    order,
    offset: integerParam(params, 'offset', 0, Number.MAX_SAFE_INTEGER) ?? 0,
    ...(sort === undefined ? {} : { sort }),
    ...(limit === undefined ? {} : { limit }),
    ...(filter === undefined ? {} : { filter }),
    ...(window === undefined ? {} : { window }),
  };
}

/** One row of the list. */
export interface ListedQueue extends Record<keyof QueueReading['stats'], number> {
  readonly name: string;
  /** Per second over the last 10 s of samples; null until two samples were taken (or without history). */
  readonly rates: Record<RateField, number | null> | null;
  /** With a window: the ready count over it. */
  readonly spark?: Column;
}

/** The page of `readings` that `query` asks for, and how many queues matched. */
export function listQueues(
  readings: readonly QueueReading[],
  history: History | undefined,
  query: ListQuery,
  now: number,
): { total: number; queues: ListedQueue[] } {
  const needle = query.filter?.toLowerCase();
  const rows = readings
    .filter((r) => needle === undefined || r.name.toLowerCase().includes(needle))
    .map((r) => ({ reading: r, rates: history?.latestRates(r.name) ?? null }));
  const { sort } = query;
  if (sort !== undefined) {
    const direction = query.order === 'asc' ? 1 : -1;
    const rate = RATE_KEYS[sort];
    // no rate yet sorts below every rate
    const value = (row: (typeof rows)[number]): number =>
      rate ? (row.rates?.[rate] ?? Number.NEGATIVE_INFINITY) : row.reading.stats[sort as keyof QueueReading['stats']];
    const byName = (a: (typeof rows)[number], b: (typeof rows)[number]): number =>
      a.reading.name < b.reading.name ? -1 : a.reading.name > b.reading.name ? 1 : 0;
    rows.sort((a, b) => {
      if (sort === 'name') return direction * byName(a, b);
      const difference = value(a) - value(b);
      // ties (and two missing rates) in name order, whatever the direction
      return difference === 0 || Number.isNaN(difference) ? byName(a, b) : direction * Math.sign(difference);
    });
  }
  const page = rows.slice(query.offset, query.limit === undefined ? undefined : query.offset + query.limit);
  return {
    total: rows.length,
    queues: page.map(({ reading, rates }) => {
      const spark = query.window && history?.sparkline(reading.name, query.window, now);
      return { name: reading.name, ...reading.stats, rates, ...(spark ? { spark } : {}) };
    }),
  };
}
