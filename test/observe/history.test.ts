/**
 * The dashboard's history: what the sampler's readings become, at explicit times (no
 * store, no waiting). The charts draw exactly these series.
 */
import { describe, expect, it } from 'vitest';
import type { QueueStats } from '../../src/data/options.js';
import {
  History,
  MAX_QUEUES_WITH_HISTORY,
  POINTS_PER_WINDOW,
  SPARKLINE_POINTS,
} from '../../src/observe/history.js';
import { histogramQuantile } from '../../src/observe/quantile.js';
import type { QueueReading } from '../../src/observe/source.js';
import { parseTaskMetrics, type TaskMetrics } from '../../src/tasks/metrics.js';

const T0 = Date.UTC(2025, 0, 1, 12);
const SECOND = 1000;
const MINUTE = 60 * SECOND;

const ZERO: Record<keyof QueueStats, number> = {
  ready: 0, delayed: 0, inflight: 0, dead: 0, expired: 0, dropped: 0, puts: 0, deliveries: 0, dones: 0,
  expiries: 0, deadLettered: 0, emptyReads: 0, headAge: 0,
};

function reading(name: string, stats: Partial<Record<keyof QueueStats, number>> = {}, tasks: TaskMetrics[] = []): QueueReading {
  return { name, stats: { ...ZERO, ...stats }, tasks };
}

/** Task metrics of one task from run times (ms) and failure counts, as the store would count them. */
function taskMetrics(task: string, runsMs: readonly number[], failed = 0, retried = 0): TaskMetrics {
  const counts: Record<string, number> = { [`${task}|runs`]: runsMs.length, [`${task}|failed`]: failed, [`${task}|retried`]: retried };
  for (const ms of runsMs) {
    const bound = [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000].find((b) => ms <= b);
    const field = `${task}|le|${bound ?? 'inf'}`;
    counts[field] = (counts[field] ?? 0) + 1;
  }
  return parseTaskMetrics('q', counts)[0] as TaskMetrics;
}

/** Samples `count` times, `every` ms apart from `start`, with stats from `at(k)`. */
function feed(history: History, count: number, every: number, at: (k: number) => QueueReading[], start = T0): number {
  let time = start;
  for (let k = 0; k < count; k += 1) {
    time = start + k * every;
    history.record(time, at(k));
  }
  return time;
}

describe('History', () => {
  it('turns running totals into rates per second, from the second sample on', () => {
    const history = new History(5 * SECOND);
    feed(history, 4, 5 * SECOND, (k) => [reading('jobs', { puts: 100 * k, dones: 50 * k, deadLettered: k === 3 ? 10 : 0 })]);
    const series = history.series('jobs', '15m', T0 + 15 * SECOND);
    expect(series?.time).toEqual([T0, T0 + 5 * SECOND, T0 + 10 * SECOND, T0 + 15 * SECOND]);
    expect(series?.rates.puts).toEqual([null, 20, 20, 20]);
    expect(series?.rates.dones).toEqual([null, 10, 10, 10]);
    expect(series?.rates.deadLettered).toEqual([null, 0, 0, 2]);
    // the current rates: the mean over the last 10 s (the points at 5, 10 and 15 s)
    expect(history.latestRates('jobs')).toEqual({ puts: 20, deliveries: 0, dones: 10, expiries: 0, deadLettered: 0.6667 });
  });

  it('counts a total that went down (a cleared queue) from zero, as rate() does', () => {
    const history = new History(SECOND);
    const puts = [1000, 1010, 4];
    feed(history, 3, SECOND, (k) => [reading('jobs', { puts: puts[k] })]);
    expect(history.series('jobs', '15m', T0 + 2 * SECOND)?.rates.puts).toEqual([null, 10, 4]);
  });

  it('keeps depth by state and head age at each sample', () => {
    const history = new History(SECOND);
    feed(history, 3, SECOND, (k) => [reading('jobs', { ready: 10 - k, delayed: k, inflight: 2, dead: k * k, headAge: 0.25 * k })]);
    const depth = history.series('jobs', '15m', T0 + 2 * SECOND)?.depth;
    expect(depth).toEqual({ ready: [10, 9, 8], delayed: [0, 1, 2], inflight: [2, 2, 2], dead: [0, 1, 4], headAge: [0, 0.25, 0.5] });
  });

  it('draws a window from a ring that holds all of it: 15 min every sample, 1 h every 20 s, 24 h every 8 min', () => {
    const history = new History(5 * SECOND);
    // two hours of samples, ready counting the minutes
    const end = feed(history, (2 * 60 * MINUTE) / (5 * SECOND), 5 * SECOND, (k) => [reading('jobs', { ready: Math.floor((k * 5) / 60) })]);
    const quarter = history.series('jobs', '15m', end);
    const hour = history.series('jobs', '1h', end);
    const day = history.series('jobs', '24h', end);
    expect([quarter?.step, hour?.step, day?.step]).toEqual([5, 20, 480]);
    expect(quarter?.time).toHaveLength(POINTS_PER_WINDOW);
    expect(quarter?.from).toBe(end - 15 * MINUTE);
    expect(hour?.time.length).toBeGreaterThanOrEqual(POINTS_PER_WINDOW - 1);
    expect(hour?.time[0]).toBeGreaterThanOrEqual(end - 60 * MINUTE);
    // the day is younger than its window: drawn from the first sample
    expect(day?.from).toBe(T0);
    // a point every 8 min, and the latest sample as the last point: nothing recent is missing
    expect(day?.time.length).toBe(16);
    expect(day?.time.slice(0, 15)).toEqual(Array.from({ length: 15 }, (_, k) => T0 + k * 8 * MINUTE));
    expect(day?.time.at(-1)).toBe(end);
    expect(day?.depth.ready.slice(-2)).toEqual([112, 119]);
  });

  it('keeps the highest depth between two coarse points, so that a spike shows in every window', () => {
    const history = new History(5 * SECOND);
    // an hour of quiet, one sample of 500 ready, quiet again
    const end = feed(history, 2 * 720, 5 * SECOND, (k) => [reading('jobs', { ready: k === 1000 ? 500 : 1 })]);
    for (const window of ['1h', '24h'] as const) {
      expect(Math.max(...(history.series('jobs', window, end)?.depth.ready as number[]))).toBe(500);
    }
  });

  it('estimates run time percentiles and rates of each task from the growth of its histogram', () => {
    const history = new History(10 * SECOND);
    const before = taskMetrics('send', [3, 3, 3, 3]);
    // ten more runs between the samples: 8 at ≤ 25 ms, 2 at ≤ 1 s; 1 failure, 2 retries
    const after = taskMetrics('send', [3, 3, 3, 3, 20, 20, 20, 20, 20, 20, 20, 20, 900, 900], 1, 2);
    history.record(T0, [reading('q', {}, [before])]);
    history.record(T0 + 10 * SECOND, [reading('q', {}, [after])]);
    const [send] = history.series('q', '15m', T0 + 10 * SECOND)?.tasks ?? [];
    expect(send?.task).toBe('send');
    expect(send?.values.runs).toEqual([null, 1]);
    expect(send?.values.failures).toEqual([null, 0.3]);
    // p50: rank 5 of 10, in the 10–25 ms bucket (8 runs): 10 + 15 × 5/8 ms
    expect(send?.values.p50[1]).toBeCloseTo(0.019375, 4);
    // p90: rank 9, in the 500 ms–1 s bucket (2 runs): 500 + 500 × 1/2 ms
    expect(send?.values.p90[1]).toBeCloseTo(0.75, 4);
    expect(send?.values.p50[0]).toBeNull();
  });

  it('starts a task seen for the first time from zero, and leaves a point without runs empty', () => {
    const history = new History(SECOND);
    history.record(T0, [reading('q')]);
    history.record(T0 + SECOND, [reading('q', {}, [taskMetrics('late', [40, 40])])]);
    history.record(T0 + 2 * SECOND, [reading('q', {}, [taskMetrics('late', [40, 40])])]);
    const [late] = history.series('q', '15m', T0 + 2 * SECOND)?.tasks ?? [];
    expect(late?.values.runs).toEqual([null, 2, 0]);
    expect(late?.values.p50).toEqual([null, 0.0375, null]);
  });

  it('gives sparklines of the ready count in equal slices of the window, the same slices for every queue', () => {
    const history = new History(MINUTE);
    const end = feed(history, 30, MINUTE, (k) => [reading('a', { ready: k }), reading('b', { ready: 100 })], T0);
    // 30 min of samples, then 30 min without (the sampler stopped): the line ends half way
    const a = history.sparkline('a', '1h', end + 30 * MINUTE);
    expect(a).toHaveLength(SPARKLINE_POINTS);
    expect(a?.slice(0, 30).every((v) => v !== null)).toBe(true);
    expect(a?.slice(31).every((v) => v === null)).toBe(true);
    expect(a?.filter((v) => v !== null)).toEqual(Array.from({ length: 30 }, (_, k) => k));
    expect(history.sparkline('b', '1h', end + 30 * MINUTE)?.filter((v) => v !== null)).toHaveLength(30);
  });

  it('forgets a queue that is no longer read, and keeps a bounded number of queues', () => {
    const history = new History(SECOND);
    history.record(T0, [reading('a'), reading('b')]);
    history.record(T0 + SECOND, [reading('b')]);
    expect(history.series('a', '15m', T0 + SECOND)).toBeUndefined();
    expect(history.series('b', '15m', T0 + SECOND)?.time).toHaveLength(2);

    const many = Array.from({ length: MAX_QUEUES_WITH_HISTORY + 10 }, (_, i) => reading(`q${i}`));
    history.record(T0 + 2 * SECOND, many);
    expect(history.size).toBe(MAX_QUEUES_WITH_HISTORY);
  });

  it('holds a fixed number of bytes per queue, whatever runs for how long', () => {
    const history = new History(5 * SECOND);
    feed(history, 10, 5 * SECOND, () => [reading('q')]);
    const young = history.bytes;
    feed(history, 20_000, 5 * SECOND, () => [reading('q')], T0 + MINUTE);
    // 3 rings × 180 points × (8 bytes of time + 10 fields × 4 bytes)
    expect(history.bytes).toBe(young);
    expect(young).toBe(3 * POINTS_PER_WINDOW * (8 + 10 * 4));
    // each task adds 5 fields × 4 bytes per point
    history.record(T0 + 200 * 24 * 60 * MINUTE, [reading('q', {}, [taskMetrics('t', [1])])]);
    expect(history.bytes).toBe(young + 3 * POINTS_PER_WINDOW * 5 * 4);
  });
});

describe('histogramQuantile', () => {
  const bounds = [0.01, 0.1, 1, Number.POSITIVE_INFINITY];

  it('interpolates inside the bucket the rank falls in, from 0 for the first', () => {
    expect(histogramQuantile(0.5, bounds, [10, 10, 10, 10])).toBeCloseTo(0.005, 9);
    expect(histogramQuantile(0.5, bounds, [0, 10, 10, 10])).toBeCloseTo(0.055, 9);
  });

  it('gives the highest finite bound for a rank above it, and NaN for an empty histogram', () => {
    expect(histogramQuantile(0.99, bounds, [0, 0, 0, 5])).toBe(1);
    expect(histogramQuantile(0.5, bounds, [0, 0, 0, 0])).toBeNaN();
  });
});
