/**
 * The dashboard API beyond one moment: the queue list sorted, filtered and paged with
 * rates and sparklines, a queue's history for the charts, dead letters paged with their
 * tasks' stories, the recent failures, and the sampling behind them.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { createDashboardHandler, StoreError } from '../../src/index.js';
import { freePort } from '../harness/redis-server.js';
import { useStore } from '../harness/context.js';
import { useQueues } from '../harness/queues.js';
import { until, useTaskApps } from '../tasks/helpers.js';
import { send, useDashboards, useServers } from './helpers.js';

const ctx = useStore();
const open = useQueues(ctx);
const t = useTaskApps(ctx);
const dashboard = useDashboards(ctx);
const serve = useServers();

/** Sampling this often keeps the tests short. */
const FAST = 0.1;

function queuePath(origin: string, name: string, ...rest: string[]): string {
  return [`${origin}/api/queues`, ...[name, ...rest].map(encodeURIComponent)].join('/');
}

async function json<T>(url: string): Promise<T> {
  const reply = await send(url);
  if (reply.status !== 200) throw new Error(`${url}: ${reply.status} ${reply.text}`);
  return reply.json<T>();
}

interface ListBody {
  total: number;
  offset: number;
  history: { interval: number; since: number | null; latest: number | null };
  queues: { name: string; ready: number; dead: number; rates: Record<string, number | null> | null; spark?: (number | null)[] }[];
}

interface HistoryBody {
  history: { interval: number; since: number | null };
  series: {
    from: number;
    to: number;
    step: number;
    time: number[];
    depth: Record<string, (number | null)[]>;
    rates: Record<string, (number | null)[]>;
  } | null;
}

/** Queues with known counts: a (3 ready), b (1 ready, 2 dead), c (3 ready, 1 dead). */
async function threeQueues(): Promise<void> {
  const make = async (name: string, ready: number, dead: number) => {
    const queue = open(name, { visTimeout: 30, attempts: 1, useDead: true });
    await queue.putData(Array.from({ length: ready + dead }, (_, i) => i));
    if (dead > 0) await queue.failData((await queue.getDeliveries(dead)).map((d) => d.lease), { useDead: true });
  };
  await make('a', 3, 0);
  await make('b', 1, 2);
  await make('c', 3, 1);
}

describe('GET /api/queues with sort, filter and pages', () => {
  it('sorts by a column, ties in name order, either way', async () => {
    await threeQueues();
    const { origin } = await dashboard();
    const names = async (query: string) => (await json<ListBody>(`${origin}/api/queues?${query}`)).queues.map((q) => q.name);
    expect(await names('')).toEqual(['a', 'b', 'c']);
    expect(await names('sort=ready')).toEqual(['a', 'c', 'b']);
    expect(await names('sort=ready&order=asc')).toEqual(['b', 'a', 'c']);
    expect(await names('sort=dead')).toEqual(['b', 'c', 'a']);
    expect(await names('sort=name&order=desc')).toEqual(['c', 'b', 'a']);
  });

  it('gives one page of the matching queues and how many matched', async () => {
    await threeQueues();
    const { origin } = await dashboard();
    const page = await json<ListBody>(`${origin}/api/queues?sort=name&offset=1&limit=1`);
    expect([page.total, page.offset, page.queues.map((q) => q.name)]).toEqual([3, 1, ['b']]);
    const filtered = await json<ListBody>(`${origin}/api/queues?filter=B`);
    expect([filtered.total, filtered.queues.map((q) => q.name)]).toEqual([1, ['b']]);
    expect((await json<ListBody>(`${origin}/api/queues?offset=5`)).queues).toEqual([]);
  });

  it('refuses a bad sort, order, page or window, naming the parameter', async () => {
    const { origin } = await dashboard();
    const error = async (query: string) => {
      const reply = await send(`${origin}/api/queues?${query}`);
      expect(reply.status).toBe(400);
      return reply.json().error;
    };
    expect(await error('sort=size')).toMatch(/^Expected `sort` to be one of "name", "ready", .*, got "size" \(string\)$/);
    expect(await error('sort=ready&order=up')).toBe('Expected `order` to be one of "asc", "desc", got "up" (string)');
    expect(await error('limit=0')).toBe('Expected `limit` to be an integer from 1 to 1000, got 0 (number)');
    expect(await error('offset=-1')).toMatch(/^Expected `offset` to be an integer from 0 to/);
    expect(await error('offset=x')).toMatch(/got NaN \(number\)$/);
    expect(await error('window=2h')).toBe('Expected `window` to be one of "15m", "1h", "24h", got "2h" (string)');
  });

  it('gives each row its latest rates and, with a window, a sparkline of its ready count', async () => {
    const queue = open('busy');
    await queue.putData([1]);
    const { origin } = await dashboard({ historyInterval: FAST });
    const row = async (query = '') => (await json<ListBody>(`${origin}/api/queues?${query}`)).queues[0];
    await until('two samples', async () => (await row())?.rates !== null);
    await queue.putData([2, 3, 4]);
    await until('a sample with the puts', async () => ((await row())?.rates?.puts ?? 0) > 0);
    const listed = await row('window=15m');
    expect(listed?.spark).toHaveLength(60);
    expect(listed?.spark?.filter((v) => v !== null).at(-1)).toBe(4);
    expect((await row())?.spark).toBeUndefined();
    // the rates sort the list too
    await open('idle').putData([1]);
    await until('idle sampled twice', async () => (await json<ListBody>(`${origin}/api/queues`)).queues.every((q) => q.rates !== null));
    expect((await json<ListBody>(`${origin}/api/queues?sort=putsRate&order=asc`)).queues.map((q) => q.name)).toEqual(['idle', 'busy']);
  });
});

describe('GET /api/queues/:name/history', () => {
  it('charts depth and rates from the samples', async () => {
    const queue = open('jobs');
    await queue.putData([1, 2, 3, 4, 5]);
    const { origin } = await dashboard({ historyInterval: FAST });
    const history = (window = '15m') => json<HistoryBody>(`${queuePath(origin, 'jobs', 'history')}?window=${window}`);
    await until('two samples', async () => ((await history()).series?.time.length ?? 0) >= 2);
    await queue.putData([6, 7, 8, 9, 10]);
    await until('a sample of 10 ready', async () => (await history()).series?.depth.ready?.at(-1) === 10);
    const body = await history();
    const series = body.series;
    expect(body.history.interval).toBe(FAST);
    expect(series?.step).toBe(FAST);
    expect(series?.depth.ready).toContain(5);
    expect(series?.rates.puts?.[0]).toBeNull();
    expect(Math.max(...(series?.rates.puts?.filter((v) => v !== null) ?? []))).toBeGreaterThan(0);
    expect(series?.time).toEqual([...(series?.time ?? [])].sort((a, b) => a - b));
    // younger than any window: every window starts at the first sample
    expect(series?.from).toBe(body.history.since);
    expect((await history('24h')).series?.depth.ready).toContain(10);
  });

  it('is empty with the history off, and refuses a bad window', async () => {
    await open('jobs').putData([1]);
    const { origin } = await dashboard({ historyInterval: 0 });
    const body = await json<HistoryBody>(queuePath(origin, 'jobs', 'history'));
    expect(body).toMatchObject({ history: { interval: 0, since: null }, series: null });
    const bad = await send(`${queuePath(origin, 'jobs', 'history')}?window=1d`);
    expect(bad.status).toBe(400);
  });
});

describe('dead letters and failures of a task queue', () => {
  it('pages through the dead letters, each with its task, error and time', async () => {
    const app = t.app();
    const boom = app.task('boom', (n: number) => {
      throw new Error(`bad input ${n}`);
    }, { useDead: true });
    const runs = await boom.executeMany(Array.from({ length: 25 }, (_, n) => [n] as [number]));
    const worker = t.worker(app, { concurrency: 5 });
    for (const run of runs) expect(await run.wait(10)).toBe(true);
    await worker.close();
    const { origin } = await dashboard();

    interface Page {
      total: number;
      reachable: number;
      offset: number;
      items: { id: string; item: { t: string; a: [number] }; task: { name: string; status: string; error: string; at: string } }[];
    }
    const first = await json<Page>(`${queuePath(origin, 'default', 'dead')}?offset=0&limit=20`);
    const second = await json<Page>(`${queuePath(origin, 'default', 'dead')}?offset=20&limit=20`);
    expect([first.total, first.reachable, first.items.length, second.items.length]).toEqual([25, 25, 20, 5]);
    const all = [...first.items, ...second.items];
    expect(new Set(all.map((d) => d.id)).size).toBe(25);
    for (const dead of all) {
      // a task's item id is its task id
      expect(dead.task).toMatchObject({ name: 'boom', id: dead.id, status: 'failed', error: `bad input ${dead.item.a[0]}` });
      // when it failed: an ISO time, as the API writes every time
      expect(Date.parse(dead.task.at)).toBeGreaterThan(Date.parse('2020-01-01'));
    }
    expect((await send(`${queuePath(origin, 'default', 'dead')}?offset=1000`)).status).toBe(400);
    expect((await send(`${queuePath(origin, 'default', 'dead')}?limit=101`)).status).toBe(400);

    const queue = await json<{ failures: { task: string; error: string; final: boolean; item: string }[] }>(queuePath(origin, 'default'));
    expect(queue.failures).toHaveLength(20);
    expect(queue.failures.every((f) => f.task === 'boom' && f.final && /^bad input \d+$/.test(f.error) && f.item !== '')).toBe(true);
  });

  it("shows a data queue's dead letters without a task", async () => {
    await threeQueues();
    const { origin } = await dashboard();
    const page = await json<{ items: Record<string, unknown>[] }>(queuePath(origin, 'b', 'dead'));
    expect(page.items.map((d) => d.item)).toEqual([0, 1]);
    expect(page.items.every((d) => !('task' in d))).toBe(true);
  });
});

describe('historyInterval', () => {
  it('takes seconds from 0.1 to 3600, or 0 for no history', () => {
    const store = ctx.store;
    expect(() => createDashboardHandler({ store, historyInterval: 0.05 })).toThrow(
      'Expected `options.historyInterval` to be a number of seconds from 0.1 to 3600, or 0 for no history, got 0.05 (number)',
    );
    expect(() => createDashboardHandler({ store, historyInterval: Number.NaN })).toThrow(RangeError);
    expect(() => createDashboardHandler({ store, historyInterval: '5' as never })).toThrow(TypeError);
  });

  it('reports a sample that fails, and samples again', async () => {
    const errors: unknown[] = [];
    const broken = new Redis({ port: await freePort(), lazyConnect: true, enableOfflineQueue: false, retryStrategy: () => null });
    broken.on('error', () => {});
    await dashboard({ store: undefined, redis: broken, historyInterval: FAST, onError: (e) => errors.push(e) });
    await until('two failed samples', () => errors.length >= 2);
    expect(errors[0]).toBeInstanceOf(StoreError);
    broken.disconnect();
  });

  it('stops sampling when the handler is closed', async () => {
    await open('jobs').putData([1]);
    const handler = createDashboardHandler({ store: ctx.store, prefix: ctx.prefix, historyInterval: FAST });
    const { origin } = await serve(handler);
    const latest = async () => (await json<ListBody>(`${origin}/api/queues`)).history.latest;
    await until('a sample', async () => (await latest()) !== null);
    await handler.close();
    const after = await latest();
    await sleep(FAST * 3000);
    expect(await latest()).toBe(after);
  });
});
