/**
 * The dashboard in a real browser: Debian's chromium, headless, driven by playwright-core.
 * Skipped when /usr/bin/chromium is missing (`.ci/run` installs it) and on the memory and
 * cluster stores (the page does not depend on the store; one run is enough).
 */
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { hasChromium } from '../harness/chromium.js';
import { useStore } from '../harness/context.js';
import { useQueues } from '../harness/queues.js';
import { problems, showsText, TOKEN, useBrowser, useDashboards, useServers } from './helpers.js';

// The page's globals, used inside page.evaluate callbacks (they run in the browser). The
// project compiles without the DOM library so that Node code cannot use them by mistake.
declare const document: {
  querySelector(selector: string): { textContent: string | null } | null;
  getElementById(id: string): { submit(): void } | null;
};
declare const window: Record<string, unknown>;

const ctx = useStore();
const open = useQueues(ctx);
const dashboard = useDashboards(ctx);
const serve = useServers();

const XSS_NAME = '<img src=x onerror=alert(1)>';

/** A queue with 2 ready, 1 delayed, 1 in flight and 1 dead item. */
async function mixedQueue(name: string) {
  const queue = open(name, { visTimeout: 30, attempts: 1, useDead: true });
  await queue.putData(['a', 'b', 'c', 'd']);
  const [, failing] = await queue.getDeliveries(2);
  await queue.failData([failing?.lease ?? ''], { useDead: true });
  await queue.putData(['later'], { delay: 600 });
  return queue;
}

/** A queue with 2 ready items and 3 dead letters. */
async function queueWithDeadLetters(name = 'orders') {
  const queue = open(name, { visTimeout: 30, attempts: 1, useDead: true });
  await queue.putData([{ n: 1 }, { n: 2 }, { n: 3 }, { n: 4 }, { n: 5 }]);
  await queue.failData((await queue.getDeliveries(3)).map((d) => d.lease), { useDead: true });
  return queue;
}

async function useToken(page: Page): Promise<void> {
  await page.fill('#token', TOKEN);
  await page.click('#token-save');
}

describe.skipIf(!hasChromium || ctx.kind !== 'redis')('dashboard in chromium', () => {
  const browser = useBrowser();

  it('lists each queue with its counts, and follows changes without a reload', async () => {
    await mixedQueue('alpha');
    const beta = open('beta');
    await beta.putData([1]);
    const { origin } = await dashboard({ historyInterval: 0.2 });
    const page = await browser.page();
    const seen = problems(page);
    await page.goto(`${origin}/`);

    const cell = (queue: string, field: string) => `tr[data-queue="${queue}"] td[data-field="${field}"]`;
    await showsText(page, cell('alpha', 'ready'), '2');
    expect(await page.textContent(cell('alpha', 'delayed'))).toBe('1');
    expect(await page.textContent(cell('alpha', 'inflight'))).toBe('1');
    expect(await page.textContent(cell('alpha', 'dead'))).toBe('1');
    expect(await page.textContent(cell('alpha', 'deadLettered'))).toBe('1');
    expect(await page.textContent(cell('beta', 'ready'))).toBe('1');
    expect(await page.$$eval('#queues tbody tr', (rows) => rows.map((r) => r.getAttribute('data-queue')))).toEqual(['alpha', 'beta']);
    expect(await page.isVisible('#mode')).toBe(true); // read-only badge

    await page.evaluate(() => Object.assign(window, { sameDocument: true }));
    await beta.putData([2, 3, 4, 5, 6]);
    await open('gamma').putData(['new']);
    await showsText(page, cell('beta', 'ready'), '6');
    await showsText(page, cell('gamma', 'ready'), '1');
    expect(await page.evaluate(() => window.sameDocument)).toBe(true);
    // a rate needs two samples; beta's puts happened between two of them
    await page.waitForFunction((sel) => Number(document.querySelector(sel)?.textContent) > 0, cell('beta', 'putsRate'), { timeout: 10_000 });
    expect(seen).toEqual([]);
  });

  it('redrives dead letters from the queue page after a confirmation, and not without one', async () => {
    const queue = await queueWithDeadLetters();
    const { origin } = await dashboard({ token: TOKEN });
    const page = await browser.page();
    const seen = problems(page);
    await page.goto(`${origin}/#/queue/orders`);
    await showsText(page, '#queue-cards [data-field="dead"] .value', '3');
    expect(await page.isDisabled('#redrive')).toBe(true); // no token entered yet
    expect(await page.$$eval('#dead-items tbody tr', (rows) => rows.length)).toBe(3);

    await useToken(page);
    await page.waitForSelector('#redrive:not([disabled])');
    const questions: string[] = [];
    page.once('dialog', (dialog) => {
      questions.push(dialog.message());
      void dialog.dismiss();
    });
    await page.click('#redrive');
    expect(questions).toEqual(['Move the 3 dead letters of "orders" back to the queue, with fresh attempts?']);
    expect((await queue.stats()).dead).toBe(3);

    page.once('dialog', (dialog) => void dialog.accept());
    await page.click('#redrive');
    // the notice is beside the buttons that caused it
    await showsText(page, '.actions #actions-notice', 'Moved 3 dead letters back to "orders".');
    expect(await queue.stats()).toEqual({ ready: 5, delayed: 0, inflight: 0, dead: 0 });
    await showsText(page, '#queue-cards [data-field="dead"] .value', '0');
    await showsText(page, '#queue-cards [data-field="ready"] .value', '5');
    expect(seen).toEqual([]);
  });

  it('purges dead letters from the queue page after a confirmation', async () => {
    const queue = await queueWithDeadLetters();
    const { origin } = await dashboard({ token: TOKEN });
    const page = await browser.page();
    await page.goto(`${origin}/#/queue/orders`);
    await useToken(page);
    await page.waitForSelector('#purge:not([disabled])');
    page.once('dialog', (dialog) => void dialog.accept());
    await page.click('#purge');
    await showsText(page, '.actions #actions-notice', 'Deleted 3 dead letters of "orders".');
    expect(await queue.stats()).toEqual({ ready: 2, delayed: 0, inflight: 0, dead: 0 });
  });

  it('refuses a POST without the token, and keeps the buttons off when read-only', async () => {
    const queue = await queueWithDeadLetters();
    const withToken = await dashboard({ token: TOKEN });
    const page = await browser.page();
    await page.goto(`${withToken.origin}/#/queue/orders`);
    await showsText(page, '#queue-cards [data-field="dead"] .value', '3');
    const post = (token?: string) =>
      page.evaluate(async (auth) => {
        const response = await fetch('api/queues/orders/redrive', {
          method: 'POST',
          headers: { 'Content-Type': 'application/json', ...(auth ? { Authorization: `Bearer ${auth}` } : {}) },
          body: '{}',
        });
        return { status: response.status, body: (await response.json()) as { error: string } };
      }, token);
    expect(await post()).toEqual({ status: 401, body: { error: 'Missing or wrong token: send Authorization: Bearer <token>' } });
    expect((await post('not-the-token-at-all')).status).toBe(401);
    expect((await queue.stats()).dead).toBe(3);

    const readOnly = await dashboard();
    await page.goto(`${readOnly.origin}/#/queue/orders`);
    await showsText(page, '#actions-hint', 'Read-only: start the dashboard with a token to allow actions.');
    expect(await page.isDisabled('#redrive')).toBe(true);
    expect(await page.isDisabled('#purge')).toBe(true);
    expect(await page.isVisible('#token-form')).toBe(false);
    expect((await post(TOKEN)).status).toBe(403);
    expect((await queue.stats()).dead).toBe(3);
  });

  it("cannot be driven by another site's page: a form post and a fetch both fail", async () => {
    const queue = await queueWithDeadLetters();
    const target = await dashboard({ token: TOKEN });
    const redrive = `${target.origin}/api/queues/orders/redrive`;
    // another origin (another port) with a form that posts JSON-looking text, and a script that tries fetch
    const evil = await serve((_request, response) => {
      response.writeHead(200, { 'Content-Type': 'text/html' });
      response.end(`<!doctype html><form id="f" method="POST" action="${redrive}" enctype="text/plain">
        <input name='{"count":3,"x":"' value='"}'></form>`);
    });
    const page = await browser.page();
    await page.goto(`${evil.origin}/`);
    const fetched = await page.evaluate(async (url) => {
      try {
        const response = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' });
        return `answered ${response.status}`;
      } catch {
        return 'blocked';
      }
    }, redrive);
    expect(fetched).toBe('blocked'); // the CORS preflight is never granted
    await Promise.all([page.waitForURL(redrive), page.evaluate(() => document.getElementById('f')?.submit())]);
    expect(await page.textContent('body')).toContain(`Cross-origin request refused (Origin \\"${evil.origin}\\")`);
    expect((await queue.stats()).dead).toBe(3);
  });

  it('shows queue names and items as text, never as markup', async () => {
    await open(XSS_NAME).putData([{ html: '<img src=x onerror="window.pwned=1">' }]);
    const { origin } = await dashboard();
    const page = await browser.page();
    const seen = problems(page);
    const dialogs: string[] = [];
    page.on('dialog', (dialog) => {
      dialogs.push(dialog.message());
      void dialog.dismiss();
    });
    await page.goto(`${origin}/`);
    await showsText(page, '#queues tbody td.name a', XSS_NAME);
    await page.click('#queues tbody td.name a');
    await showsText(page, '#queue-name', XSS_NAME);
    await showsText(page, '#ready-items tbody td.name', '{"html":"<img src=x onerror=\\"window.pwned=1\\">"}');
    expect(await page.$$eval('main img', (images) => images.length)).toBe(0);
    expect(await page.evaluate(() => 'pwned' in window)).toBe(false);
    expect(dialogs).toEqual([]);
    expect(seen).toEqual([]);
  });

  it("inspects an item by id: its state, deliveries and lease's end", async () => {
    const queue = open('jobs', { visTimeout: 300 });
    const [first, second] = await queue.putData(['first', 'second']);
    await queue.getData(1);
    const { origin } = await dashboard();
    const page = await browser.page();
    await page.goto(`${origin}/#/queue/jobs`);
    await page.click(`#ready-items tbody tr[data-id="${second}"] button`);
    await showsText(page, '#inspect-result dd[data-field="state"]', 'ready');
    expect(await page.textContent('#inspect-result dd[data-field="id"]')).toBe(second);

    await page.fill('#inspect-id', first ?? '');
    await page.press('#inspect-id', 'Enter');
    await page.waitForFunction(() => document.querySelector('#inspect-result dd[data-field="state"]')?.textContent?.startsWith('in flight until'));
    expect(await page.textContent('#inspect-result dd[data-field="deliveries"]')).toBe('1');
    expect(await page.textContent('#inspect-result dd[data-field="item"]')).toBe('"first"');

    await page.fill('#inspect-id', 'no-such-id');
    await page.press('#inspect-id', 'Enter');
    await showsText(page, '#inspect-form #inspect-notice', 'No item or task "no-such-id" in the queue "jobs" or its dead letters');
  });
});
