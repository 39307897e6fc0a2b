/**
 * The dashboard's memory of each queue over time, kept in the serving process: a sampler
 * hands it one reading of every queue per interval (stats() and task metrics), and it
 * keeps, per queue, three rings of 180 points each: every sample (15 min at the default
 * 5 s), a point every 20 s (1 h) and one every 8 min (24 h). A window is drawn from the
 * finest ring that holds all of it, or everything since sampling began. Nothing is
 * written to the store, so it works on every store, and it starts empty when the
 * process starts.
 *
 * A point holds, over the time since the ring's previous point:
 * - depth by state (ready, delayed, in flight, dead) and head age: the highest value
 *   sampled, so that a coarse point never hides a spike;
 * - rates per second of the running totals (puts, deliveries, dones, lease expiries,
 *   dead-lettered): their increase divided by the time, a total that went down (a
 *   cleared queue) counting from zero, as Prometheus's rate() does;
 * - per task: runs ended and failures (failed + retried) per second, and the 50th, 90th
 *   and 99th percentile run time estimated from the increase of the run-time histogram.
 */
import { histogramQuantile } from './quantile.js';
import { Ring } from './ring.js';
import type { QueueReading } from './source.js';

/** The windows the page offers, ms. */
export const HISTORY_WINDOWS = { '15m': 900_000, '1h': 3_600_000, '24h': 86_400_000 } as const;

export type HistoryWindow = keyof typeof HISTORY_WINDOWS;

/** Points per ring: enough for a chart a few hundred pixels wide. */
export const POINTS_PER_WINDOW = 180;

/** Queues given a history (about 38 KB each, see docs/observability.md); any more are listed without charts. */
export const MAX_QUEUES_WITH_HISTORY = 2000;

/** Tasks of one queue given a history. */
export const MAX_TASKS_WITH_HISTORY = 50;

/** The list's and a queue's current rates are the mean over this long, ms: steady enough to read. */
export const LATEST_RATES_MS = 10_000;

/** Points of a sparkline. */
export const SPARKLINE_POINTS = 60;

export const DEPTH_FIELDS = ['ready', 'delayed', 'inflight', 'dead', 'headAge'] as const;
export const RATE_FIELDS = ['puts', 'deliveries', 'dones', 'expiries', 'deadLettered'] as const;
export const TASK_FIELDS = ['p50', 'p90', 'p99', 'runs', 'failures'] as const;

export type DepthField = (typeof DEPTH_FIELDS)[number];
export type RateField = (typeof RATE_FIELDS)[number];
export type TaskField = (typeof TASK_FIELDS)[number];

/** A column of a series: null where there is no value (before the first rate, a gap). */
export type Column = (number | null)[];

/** One queue over a window, as the API sends it: a column per field, aligned with `time`. */
export interface QueueSeries {
  readonly window: HistoryWindow;
  /**
   * Where the chart starts and ends, ms: the window, or only its part since sampling
   * began when the history is younger than the window (then `from` > `to` − window).
   */
  readonly from: number;
  readonly to: number;
  /** Seconds between points of the ring the window is drawn from. */
  readonly step: number;
  /** Time of each point, ms. */
  readonly time: number[];
  readonly depth: Record<DepthField, Column>;
  /** Per second. */
  readonly rates: Record<RateField, Column>;
  /** Run time percentiles in seconds, runs and failures per second. */
  readonly tasks: { readonly task: string; readonly values: Record<TaskField, Column> }[];
}

const QUANTILES: readonly (readonly [TaskField, number])[] = [
  ['p50', 0.5],
  ['p90', 0.9],
  ['p99', 0.99],
];

/** A task's running totals: the cumulative histogram counts, then runs ended, failed, retried. */
function taskTotals(task: QueueReading['tasks'][number]): Float64Array {
  const buckets = task.runTime.buckets;
  const totals = new Float64Array(buckets.length + 3);
  buckets.forEach((b, i) => {
    totals[i] = b.count;
  });
  totals[buckets.length] = task.runTime.count;
  totals[buckets.length + 1] = task.failed;
  totals[buckets.length + 2] = task.retried;
  return totals;
}

/** How much a running total grew; one that went down was reset and counts from zero. */
function increase(now: number, before: number): number {
  return now >= before ? now - before : now;
}

/** A point not yet in a ring: the latest sample measured against the ring's last point. */
export interface PendingPoint {
  readonly time: number;
  readonly values: ReadonlyMap<string, number>;
}

/** One ring and what its next point is measured against. */
class Tier {
  readonly spacingMs: number;
  readonly ring = new Ring(POINTS_PER_WINDOW);
  /**
   * The latest sample when it did not make a point: charts end with it, so that a coarse
   * window shows the last minutes too.
   */
  pending: PendingPoint | undefined;
  #last: number | undefined;
  #totals: Float64Array | undefined;
  readonly #taskTotals = new Map<string, Float64Array>();
  readonly #peaks = new Float64Array(DEPTH_FIELDS.length).fill(Number.NEGATIVE_INFINITY);

  constructor(spacingMs: number) {
    this.spacingMs = spacingMs;
  }

  /** Takes a sample; makes a point once `spacingMs` (less `slackMs` of timer jitter) passed since the last. */
  offer(time: number, reading: QueueReading, taskColumn: (task: string) => string | undefined, slackMs: number): void {
    DEPTH_FIELDS.forEach((field, i) => {
      this.#peaks[i] = Math.max(this.#peaks[i] as number, reading.stats[field]);
    });
    const last = this.#last;
    const values = new Map<string, number>();
    DEPTH_FIELDS.forEach((field, i) => values.set(field, this.#peaks[i] as number));
    const seconds = last === undefined ? Number.NaN : Math.max(time - last, 1) / 1000;
    const totals = Float64Array.from(RATE_FIELDS, (field) => reading.stats[field]);
    RATE_FIELDS.forEach((field, i) => {
      const before = this.#totals?.[i];
      values.set(field, before === undefined ? Number.NaN : increase(totals[i] as number, before) / seconds);
    });
    const taskTotalsNow = new Map<string, Float64Array>();
    for (const task of reading.tasks) {
      const column = taskColumn(task.task);
      if (column === undefined) continue;
      const now = taskTotals(task);
      taskTotalsNow.set(task.task, now);
      // a task first seen after a point had run nothing before it
      const before = this.#taskTotals.get(task.task) ?? (last === undefined ? undefined : new Float64Array(now.length));
      if (before !== undefined) taskValues(task, now, before, seconds, column, values);
    }

    if (last !== undefined && time - last < this.spacingMs - slackMs) {
      this.pending = { time, values };
      return;
    }
    this.pending = undefined;
    this.#peaks.fill(Number.NEGATIVE_INFINITY);
    this.#totals = totals;
    for (const [task, now] of taskTotalsNow) this.#taskTotals.set(task, now);
    this.#last = time;
    this.ring.push(time, values);
  }
}

/** A task's values at a point (percentiles, runs/s, failures/s) from its totals now and at the last point. */
function taskValues(
  task: QueueReading['tasks'][number],
  now: Float64Array,
  before: Float64Array,
  seconds: number,
  column: string,
  values: Map<string, number>,
): void {
  const runs = task.runTime.buckets.length;
  const reset = (now[runs] as number) < (before[runs] as number);
  const grown = Array.from(now.subarray(0, runs), (count, i) => (reset ? count : count - (before[i] as number)));
  const bounds = task.runTime.buckets.map((b) => b.le);
  for (const [field, q] of QUANTILES) values.set(`${column}${field}`, histogramQuantile(q, bounds, grown));
  values.set(`${column}runs`, increase(now[runs] as number, before[runs] as number) / seconds);
  const failures =
    increase(now[runs + 1] as number, before[runs + 1] as number) + increase(now[runs + 2] as number, before[runs + 2] as number);
  values.set(`${column}failures`, failures / seconds);
}

/** A number for JSON: null for no value, rounded to what a chart can show. */
function shown(value: number, digits: number): number | null {
  if (!Number.isFinite(value)) return null;
  return Number(value.toPrecision(digits));
}

/** One queue's rings. */
class QueueHistory {
  readonly tiers: Tier[];
  /** Column prefix of each task given a history. */
  readonly #tasks = new Map<string, string>();

  constructor(spacings: readonly number[]) {
    this.tiers = spacings.map((spacing) => new Tier(spacing));
  }

  record(time: number, reading: QueueReading, slackMs: number): void {
    const column = (task: string): string | undefined => {
      let prefix = this.#tasks.get(task);
      if (prefix === undefined && this.#tasks.size < MAX_TASKS_WITH_HISTORY) {
        prefix = `task${this.#tasks.size}.`;
        this.#tasks.set(task, prefix);
      }
      return prefix;
    };
    for (const tier of this.tiers) tier.offer(time, reading, column, slackMs);
  }

  /**
   * The finest ring that holds the whole window, or everything since sampling began; the
   * coarsest otherwise.
   */
  tierFor(windowMs: number, now: number): Tier {
    // a full ring of the window's own spacing holds the window but for one spacing
    const holds = (tier: Tier): boolean =>
      tier.ring.complete || (tier.ring.oldest ?? Number.POSITIVE_INFINITY) <= now - windowMs + tier.spacingMs;
    return this.tiers.find(holds) ?? (this.tiers.at(-1) as Tier);
  }

  /** The points of `tier` from `from` on, ending with its pending point if any. */
  #points(tier: Tier, from: number): { time: number; value: (column: string) => number }[] {
    const { ring, pending } = tier;
    const points = ring.indicesFrom(from).map((i) => ({ time: ring.time(i), value: (column: string) => ring.value(column, i) }));
    if (pending && pending.time >= from) {
      points.push({ time: pending.time, value: (column) => pending.values.get(column) ?? Number.NaN });
    }
    return points;
  }

  series(window: HistoryWindow, from: number, now: number): QueueSeries {
    const tier = this.tierFor(HISTORY_WINDOWS[window], now);
    const points = this.#points(tier, from);
    const column = (name: string, digits: number): Column => points.map((p) => shown(p.value(name), digits));
    const record = <F extends string>(fields: readonly F[], digits: (field: F) => number, prefix = ''): Record<F, Column> =>
      Object.fromEntries(fields.map((field) => [field, column(`${prefix}${field}`, digits(field))])) as Record<F, Column>;
    return {
      window,
      from,
      to: now,
      step: tier.spacingMs / 1000,
      time: points.map((p) => p.time),
      // counts are integers; 15 digits keep them exact (Float32 keeps about 7)
      depth: record(DEPTH_FIELDS, (field) => (field === 'headAge' ? 4 : 15)),
      rates: record(RATE_FIELDS, () => 4),
      tasks: [...this.#tasks].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([task, prefix]) => ({
        task,
        values: record(TASK_FIELDS, () => 4, prefix),
      })),
    };
  }

  /** The ready count over the window in `points` equal slices, the highest of each; null where none was sampled. */
  sparkline(window: HistoryWindow, from: number, now: number, points: number): Column {
    const span = Math.max(now - from, 1);
    const out: Column = new Array<number | null>(points).fill(null);
    for (const point of this.#points(this.tierFor(HISTORY_WINDOWS[window], now), from)) {
      const slot = Math.max(0, Math.min(points - 1, Math.floor(((point.time - from) / span) * points)));
      const value = point.value('ready');
      if (Number.isFinite(value)) out[slot] = Math.max(out[slot] ?? 0, value);
    }
    return out;
  }

  /**
   * Rates per second lately: the mean of the finest ring's rates over the last
   * {@link LATEST_RATES_MS} (at least its newest point); null before the second sample.
   */
  latestRates(): Record<RateField, number | null> | undefined {
    const { ring } = this.tiers[0] as Tier;
    const newest = ring.newest;
    if (newest === undefined) return undefined;
    const recent = ring.indicesFrom(ring.time(newest) - LATEST_RATES_MS);
    const mean = (field: RateField): number => {
      const known = recent.map((i) => ring.value(field, i)).filter((v) => Number.isFinite(v));
      return known.length === 0 ? Number.NaN : known.reduce((sum, v) => sum + v, 0) / known.length;
    };
    return Object.fromEntries(RATE_FIELDS.map((field) => [field, shown(mean(field), 4)])) as Record<RateField, number | null>;
  }

  get bytes(): number {
    return this.tiers.reduce((sum, tier) => sum + tier.ring.bytes, 0);
  }
}

/** Every queue's history: fed by the sampler, read by the API. */
export class History {
  /** ms between samples. */
  readonly intervalMs: number;
  readonly #spacings: number[];
  readonly #queues = new Map<string, QueueHistory>();
  #since: number | undefined;
  #latest: number | undefined;

  constructor(intervalMs: number) {
    this.intervalMs = intervalMs;
    // the finest ring takes every sample (at the default 5 s, 180 of them are 15 min); the
    // others a point per window / 180; a ring whose spacing equals a finer one's is not kept
    const [, ...coarser] = Object.values(HISTORY_WINDOWS);
    this.#spacings = [...new Set([intervalMs, ...coarser.map((windowMs) => Math.max(intervalMs, windowMs / POINTS_PER_WINDOW))])];
  }

  /**
   * Adds one sample of every queue, taken at `time` (ms). A queue missing from
   * `readings` is gone (cleared and forgotten) and so is its history; queues past
   * {@link MAX_QUEUES_WITH_HISTORY} are not kept.
   */
  record(time: number, readings: readonly QueueReading[]): void {
    this.#since ??= time;
    this.#latest = time;
    const present = new Set(readings.map((reading) => reading.name));
    for (const name of this.#queues.keys()) if (!present.has(name)) this.#queues.delete(name);
    for (const reading of readings) {
      let queue = this.#queues.get(reading.name);
      if (!queue) {
        if (this.#queues.size >= MAX_QUEUES_WITH_HISTORY) continue;
        queue = new QueueHistory(this.#spacings);
        this.#queues.set(reading.name, queue);
      }
      queue.record(time, reading, this.intervalMs / 2);
    }
  }

  /** Time of the first sample, ms; undefined before it. */
  get since(): number | undefined {
    return this.#since;
  }

  /** Time of the latest sample, ms; undefined before the first. */
  get latest(): number | undefined {
    return this.#latest;
  }

  /** Where a chart of `window` ending `now` starts: the window's start, or the first sample if later. */
  start(window: HistoryWindow, now: number): number {
    return Math.max(now - HISTORY_WINDOWS[window], this.#since ?? now);
  }

  series(name: string, window: HistoryWindow, now: number): QueueSeries | undefined {
    return this.#queues.get(name)?.series(window, this.start(window, now), now);
  }

  /** The ready count of `name` from {@link start} to `now` in `points` slices (the same slices for every queue). */
  sparkline(name: string, window: HistoryWindow, now: number, points = SPARKLINE_POINTS): Column | undefined {
    return this.#queues.get(name)?.sparkline(window, this.start(window, now), now, points);
  }

  latestRates(name: string): Record<RateField, number | null> | undefined {
    return this.#queues.get(name)?.latestRates();
  }

  /** Queues with a history. */
  get size(): number {
    return this.#queues.size;
  }

  /** Bytes of the rings of every queue (the typed arrays; object overhead not counted). */
  get bytes(): number {
    let total = 0;
    for (const queue of this.#queues.values()) total += queue.bytes;
    return total;
  }
}
