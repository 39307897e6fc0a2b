/**
 * The dashboard over time, in a real browser (Debian's chromium via playwright-core): the
 * charts draw the sampled data and follow the window switch and the keyboard, the
 * overview sorts and pages a thousand queues, and a task queue's dead letters and
 * failures read as tasks. Skipped where browser.test.ts is.
 */
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { hasChromium } from '../harness/chromium.js';
import { useStore } from '../harness/context.js';
import { useQueues } from '../harness/queues.js';
import { until, useTaskApps } from '../tasks/helpers.js';
import { problems, send, showsText, useBrowser, useDashboards } from './helpers.js';

const ctx = useStore();
const open = useQueues(ctx);
const t = useTaskApps(ctx);
const dashboard = useDashboards(ctx);

/** Sampling this often keeps the tests short. */
const FAST = 0.1;

/** An attribute of the first element of `selector`, or null. */
async function attribute(page: Page, selector: string, name: string): Promise<string | null> {
  const element = await page.$(selector);
  return element ? element.getAttribute(name) : null;
}

/** Points drawn in the chart of `selector`. */
async function pointsOf(page: Page, selector: string): Promise<number> {
  return Number(await page.getAttribute(`${selector} svg.plot`, 'data-points'));
}

/** The first column of the overview's rows. */
function listed(page: Page): Promise<(string | null)[]> {
  return page.$$eval('#queues tbody tr', (rows) => rows.map((r) => r.getAttribute('data-queue')));
}

describe.skipIf(!hasChromium || ctx.kind !== 'redis')('dashboard charts in chromium', () => {
  const browser = useBrowser();

  it("draws a queue's charts from its samples, reads them out by keyboard, and redraws them for another window", async () => {
    const queue = open('jobs');
    await queue.putData([1, 2, 3, 4, 5]);
    const { origin } = await dashboard({ historyInterval: FAST });
    const page = await browser.page();
    const seen = problems(page);
    await page.goto(`${origin}/#/queue/jobs`);
    await until('eight points', async () => Number(await attribute(page, '#chart-depth svg.plot', 'data-points')) >= 8);
    await queue.putData([6, 7, 8, 9, 10]);
    await until('10 ready drawn', async () => (await attribute(page, '#chart-depth svg.plot', 'aria-label'))?.includes('ready now 10, peak 10') === true);

    // (a sample late by more than 2.5 intervals, on a busy machine, breaks a line in two)
    const drawn = (chart: string) =>
      page.$$eval(`${chart} svg.plot path[data-series]`, (paths) => [...new Set(paths.map((p) => p.getAttribute('data-series')))]);
    expect(await drawn('#chart-depth')).toEqual(['ready', 'delayed', 'inflight']);
    expect(await drawn('#chart-dead')).toEqual(['dead']);
    await until('puts drawn', async () => /puts now [\d.]+\/s, peak [1-9]/.test((await attribute(page, '#chart-rates svg.plot', 'aria-label')) ?? ''));
    expect(await page.$$eval('#chart-rates path[data-series="puts"]', (paths) => paths.length)).toBeGreaterThan(0);

    // the keyboard moves a cursor over the samples, and the readout says what is under it
    await page.focus('#chart-depth svg.plot');
    await page.keyboard.press('Home');
    expect(await page.textContent('#chart-depth .readout')).toMatch(/^\d\d:\d\d:\d\d · ready 5 · delayed 0 · in flight 0$/);
    await page.keyboard.press('End');
    expect(await page.textContent('#chart-depth .readout')).toMatch(/ · ready 10 · /);
    expect(await attribute(page, '#chart-depth .cursor', 'visibility')).toBe('visible');

    const requested = page.waitForRequest((request) => request.url().includes('/history?window=1h'));
    await page.click('#window button[data-window="1h"]');
    await requested;
    await until('the 1 h window drawn', async () => (await attribute(page, '#chart-depth', 'data-window')) === '1h');
    expect(await page.getAttribute('#window button[data-window="1h"]', 'aria-pressed')).toBe('true');
    expect(await page.getAttribute('#window button[data-window="15m"]', 'aria-pressed')).toBe('false');
    expect(await pointsOf(page, '#chart-depth')).toBeGreaterThan(0);
    // younger than the window: drawn from the first sample, and said so
    expect(await page.textContent('#charts-range')).toMatch(/^\(since \d\d:\d\d:\d\d, when sampling began\)$/);

    // the overview keeps the window, and draws a sparkline per queue
    await page.click('.crumbs a');
    await until('a sparkline', async () => Number(await attribute(page, 'tr[data-queue="jobs"] svg.spark', 'data-points')) > 0);
    expect(await page.getAttribute('tr[data-queue="jobs"] svg.spark', 'aria-label')).toBe(
      'ready items of jobs over the last 1 h: now 10, peak 10',
    );
    expect(seen).toEqual([]);
  });

  it('sorts a thousand queues by any column, by mouse or keyboard, a page at a time', async () => {
    const names = Array.from({ length: 1000 }, (_, i) => `q${String(i).padStart(4, '0')}`);
    for (let i = 0; i < names.length; i += 100) {
      // 1 to 10 ready items each (a queue is listed from its first put)
      await Promise.all(names.slice(i, i + 100).map((name, k) => open(name).putData(Array.from({ length: ((i + k) % 10) + 1 }, (_, n) => n))));
    }
    for (const [name, dead] of [['q0500', 3], ['q0900', 1]] as const) {
      const queue = open(name, { visTimeout: 30, attempts: 1, useDead: true });
      await queue.putData(Array.from({ length: dead }, (_, n) => n));
      await queue.failData((await queue.getDeliveries(dead)).map((d) => d.lease), { useDead: true });
    }
    const { origin } = await dashboard();
    const page = await browser.page();
    await page.goto(`${origin}/`);
    await showsText(page, '#queues-pager [data-range]', '1–50 of 1,000 queues');
    expect(await page.$$eval('#queues tbody tr', (rows) => rows.length)).toBe(50);

    await page.click('th button[data-sort="dead"]');
    await until('q0500 first', async () => (await attribute(page, '#queues tbody tr', 'data-queue')) === 'q0500');
    expect((await listed(page)).slice(0, 3)).toEqual(['q0500', 'q0900', 'q0000']);
    expect(await page.getAttribute('th:has(button[data-sort="dead"])', 'aria-sort')).toBe('descending');

    // by keyboard: the column headers are buttons
    await page.focus('th button[data-sort="ready"]');
    await page.keyboard.press('Enter');
    await until('q0009 first', async () => (await attribute(page, '#queues tbody tr', 'data-queue')) === 'q0009');
    expect((await listed(page)).slice(0, 3)).toEqual(['q0009', 'q0019', 'q0029']);
    await page.keyboard.press('Enter');
    await until('q0000 first', async () => (await attribute(page, '#queues tbody tr', 'data-queue')) === 'q0000');
    expect(await page.getAttribute('th:has(button[data-sort="ready"])', 'aria-sort')).toBe('ascending');

    await page.click('#queues-pager button[data-page="1"]');
    await showsText(page, '#queues-pager [data-range]', '51–100 of 1,000 queues');
    await page.fill('#filter', 'q09');
    await showsText(page, '#queues-pager [data-range]', '1–50 of 100 queues');
    expect((await listed(page)).every((name) => name?.startsWith('q09'))).toBe(true);
  });

  it("shows a task queue's dead letters with task, error and time, page by page, and its latest failures", async () => {
    const app = t.app();
    // a lease (visTimeout) keeps the failed item's id through to its dead letter
    const boom = app.task('boom', (n: number) => {
      throw new Error(`bad input ${n}`);
    }, { useDead: true, visTimeout: 5 });
    const fine = app.task('fine', () => 'ok');
    const { origin } = await dashboard({ historyInterval: FAST });
    const runs = [...(await boom.executeMany(Array.from({ length: 25 }, (_, n) => [n] as [number]))), await fine.execute([])];
    // the runs are charted from the growth of the run-time histogram: sampled before and after
    await until('the queue sampled', async () => {
      const body = (await send(`${origin}/api/queues/default/history`)).json<{ series: { time: number[] } | null }>();
      return (body.series?.time.length ?? 0) > 0;
    });
    const worker = t.worker(app, { concurrency: 5 });
    for (const run of runs) expect(await run.wait(10)).toBe(true);
    await worker.close();

    const page = await browser.page();
    const seen = problems(page);
    await page.goto(`${origin}/#/queue/default`);
    await showsText(page, '#dead-pager [data-range]', '1–20 of 25 dead letters');
    expect(await page.$$eval('#dead-items thead th', (cells) => cells.map((c) => c.textContent))).toEqual([
      'id',
      'task',
      'last error',
      'failed',
      'arguments',
    ]);
    const rows = await page.$$eval('#dead-items tbody tr', (trs) =>
      trs.map((tr) => ['task', 'error', 'at', 'args'].map((field) => tr.querySelector(`[data-field="${field}"]`)?.textContent)),
    );
    expect(rows).toHaveLength(20);
    for (const [task, error, at, args] of rows) {
      expect(task).toBe('boom');
      expect(error).toBe(`bad input ${JSON.parse(args ?? '')[0]}`);
      expect(at).toMatch(/ ago$/);
    }
    await page.click('#dead-pager button[data-page="1"]');
    await showsText(page, '#dead-pager [data-range]', '21–25 of 25 dead letters');
    expect(await page.$$eval('#dead-items tbody tr', (trs) => trs.length)).toBe(5);

    // the latest failures, each a link to its item
    expect(await page.$$eval('#failures tbody tr', (trs) => trs.length)).toBe(10);
    expect(await page.textContent('#failures tbody tr td:nth-child(3)')).toBe('run 1 · failed for good');
    await page.click('#failures tbody tr .id button');
    await showsText(page, '#inspect-result dd[data-field="state"]', 'dead (in the dead-letter queue)');
    // brought into view beside its form, not left out of sight
    const box = await page.$eval('#inspect-result', (node) => {
      const rect = node.getBoundingClientRect();
      return { top: rect.top, height: (globalThis as unknown as { innerHeight: number }).innerHeight };
    });
    expect(box.top).toBeGreaterThanOrEqual(0);
    expect(box.top).toBeLessThan(box.height);
    expect(await page.textContent('#inspect-result dd[data-field="task status"]')).toBe('failed');

    // the task table sorts
    await page.click('#tasks th button[data-sort="failed"]');
    expect(await page.$$eval('#tasks tbody tr', (trs) => trs.map((tr) => tr.getAttribute('data-task')))).toEqual(['boom', 'fine']);
    await page.click('#tasks th button[data-sort="done"]');
    expect(await page.$$eval('#tasks tbody tr', (trs) => trs.map((tr) => tr.getAttribute('data-task')))).toEqual(['fine', 'boom']);

    // a run-time chart per task, drawn from the runs between samples
    await until('a run-time chart', async () => Number(await attribute(page, '#task-charts figure[data-task="boom"] svg.plot', 'data-points')) > 0);
    expect(await page.$$eval('#task-charts figure', (figures) => figures.map((f) => f.getAttribute('data-task')))).toEqual(['boom', 'fine']);
    expect(seen).toEqual([]);
  });

  it('writes every duration in one voice: 0 s, never 0 ms', async () => {
    await open('jobs').putData([1]);
    const { origin } = await dashboard();
    const page = await browser.page();
    await page.goto(`${origin}/`);
    // a string, so that the test's bundler leaves the page's own import() alone
    const durations = await page.evaluate(`import('./format.js').then((f) => [0, 0.0004, 0.004, 1.5, 300, 9000].map(f.duration))`);
    expect(durations).toEqual(['0 s', '< 1 ms', '4 ms', '1.5 s', '5 min', '2.5 h']);
  });
});
