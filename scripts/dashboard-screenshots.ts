/**
 * Makes docs/dashboard.png (the queue list), dashboard-queue.png (a queue's charts),
 * dashboard-tasks.png (its tasks and failures), dashboard-dead.png (its dead letters
 * and an inspected one) and dashboard-groups.png (a queue's busiest ordered groups):
 * `npm run docs:screenshots` (about a minute and a half).
 *
 * Six queues on an in-process MemoryStore (no Redis needed), with traffic that tells a
 * story while the history is sampled every second: `orders` (a data queue read and
 * finished steadily), `emails` (a task queue with a backlog that two workers drain, and a
 * resizeImage task that always fails, so its retries and dead letters pile up), `exports`
 * (puts outrun its reader from 20 s on: a growing backlog), `webhooks` (leases left to
 * expire into dead letters from 35 s on), `reports` (delayed items) and `payments`
 * (ordered groups per account, put faster than read: the groups wait). The dashboard is
 * served on a free loopback port and photographed in Debian's chromium through
 * playwright-core, as the browser tests drive it.
 */
import { createServer } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { createDashboardHandler, DataQueue, MemoryStore, Visq } from '../src/index.js';
import { launchChromium } from '../test/harness/chromium.js';

const DOCS = fileURLToPath(new URL('../docs/', import.meta.url));
/** Shown in the token box of the queue page: the buttons are live with it. */
const TOKEN = 'screenshot-token-0123456789';
const SHOTS = ['dashboard.png', 'dashboard-queue.png', 'dashboard-tasks.png', 'dashboard-dead.png', 'dashboard-groups.png'];
/** How long the traffic runs before the pictures, seconds. */
const RUN = 80;

const store = new MemoryStore();
const app = new Visq({ store });
const sendEmail = app.task('sendEmail', async (to: string) => {
  await sleep(40 + Math.random() * 120);
  return `sent to ${to}`;
}, { queue: 'emails', visTimeout: 5 });
const resizeImage = app.task('resizeImage', async (url: string) => {
  await sleep(100 + Math.random() * 400);
  throw new Error(`decoder failed: unsupported color profile (${url})`);
}, { queue: 'emails', attempts: 2, visTimeout: 5, useDead: true });

const orders = new DataQueue<{ order: number; total: number }>(store, 'orders', { visTimeout: 30 });
const exports = new DataQueue<{ user: number }>(store, 'exports', { visTimeout: 30 });
const reports = new DataQueue<{ report: string }>(store, 'reports');
const webhooks = new DataQueue<{ hook: string }>(store, 'webhooks', { visTimeout: 1, attempts: 1, useDead: true });
const payments = new DataQueue<{ account: string; amount: number }>(store, 'payments', { visTimeout: 30 });

let stopping = false;
const started = Date.now();
const elapsed = (): number => (Date.now() - started) / 1000;

/** Puts orders steadily and reads them in batches, finishing each batch. */
async function orderTraffic(): Promise<void> {
  let n = 0;
  while (!stopping) {
    const burst = 10 + Math.round(8 * Math.sin(elapsed() / 6));
    await orders.putData(Array.from({ length: burst }, () => ({ order: (n += 1), total: Math.round(Math.random() * 20000) / 100 })));
    const batch = await orders.getData(burst, { visTimeout: 30 });
    await sleep(100);
    await orders.doneData([...batch.keys()]);
    await sleep(150);
  }
}

/** From 20 s on, 30 exports a second against a reader of 10 a second: the backlog grows. */
async function exportTraffic(): Promise<void> {
  let n = 0;
  while (!stopping) {
    if (elapsed() > 20) await exports.putData(Array.from({ length: 3 }, () => ({ user: (n += 1) })));
    const batch = await exports.getData(1, { visTimeout: 30 });
    await exports.doneData([...batch.keys()]);
    await sleep(100);
  }
}

/** From 35 s on, webhooks whose leases run out: with one attempt each becomes a dead letter. */
async function webhookTraffic(): Promise<void> {
  while (!stopping && elapsed() < 35) await sleep(200);
  for (let round = 0; !stopping && round < 6; round += 1) {
    await webhooks.putData(Array.from({ length: 4 }, (_, i) => ({ hook: `https://hooks.example.com/${round}/${i}` })));
    await webhooks.getData(3, { visTimeout: 1 });
    await sleep(4000);
  }
}

/** Payments in order per account (ordered groups), put faster than they are read: groups wait. */
async function paymentTraffic(): Promise<void> {
  let n = 0;
  while (!stopping) {
    const batch = Array.from({ length: 3 }, () => ({ account: `acct-${1000 + ((n += 1) % 7) * 37}`, amount: Math.round(Math.random() * 50000) / 100 }));
    await payments.putData(batch, { group: (payment) => payment.account });
    const leased = await payments.getData(2, { visTimeout: 30 });
    await sleep(300);
    await payments.doneData([...leased.keys()]);
  }
}

async function seed(): Promise<void> {
  await sendEmail.executeMany(Array.from({ length: 2400 }, (_, i) => [`user${i}@example.com`] as [string]));
  // ahead of the emails, so that their failures (and dead letters) show while emails wait
  await resizeImage.executeMany(
    Array.from({ length: 30 }, (_, i) => [`https://example.com/img/${i}.png`] as [string]),
    { priority: 5 },
  );
  await reports.putData([{ report: 'daily' }, { report: 'weekly' }]);
  await reports.putData(Array.from({ length: 6 }, (_, i) => ({ report: `region-${i}` })), { delay: 3600 });
}

const handler = createDashboardHandler({ store, token: TOKEN, historyInterval: 1 });
const server = createServer(handler);
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const address = server.address();
const origin = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
const profile = mkdtempSync(join(tmpdir(), 'visq-screenshots-'));
const traffic = [orderTraffic(), exportTraffic(), webhookTraffic(), paymentTraffic()];
try {
  await seed();
  // closed by app.close()
  app.worker({ queues: ['emails'], concurrency: 2 });
  console.log(`running traffic for ${RUN} s…`);
  await sleep(RUN * 1000);

  const context = await launchChromium(profile, { width: 1280, height: 560 });
  const page = await context.newPage();
  await page.goto(`${origin}/`);
  await page.click('th button[data-sort="ready"]');
  await page.waitForSelector('tr[data-queue="exports"] svg.spark');
  await sleep(2500);
  await page.screenshot({ path: join(DOCS, 'dashboard.png') });

  await page.setViewportSize({ width: 1280, height: 900 });
  await page.goto(`${origin}/#/queue/emails`);
  await page.fill('#token', TOKEN);
  await page.click('#token-save');
  await page.waitForSelector('#dead-items tbody tr');
  await page.waitForSelector('#task-charts figure[data-task="sendEmail"] svg.plot path');
  // a reading under the cursor of the first chart
  await page.focus('#chart-depth svg.plot');
  for (let i = 0; i < 20; i += 1) await page.keyboard.press('ArrowLeft');
  await page.screenshot({ path: join(DOCS, 'dashboard-queue.png') });

  const deadId = await page.getAttribute('#dead-items tbody tr', 'data-id');
  await page.fill('#inspect-id', deadId ?? '');
  await page.click('#inspect-form button');
  await page.waitForSelector('#inspect-result:not([hidden])');
  // a viewport as tall as the page, so that the sticky header stays at its top
  const height = await page.$eval('body', (body) => body.scrollHeight);
  await page.setViewportSize({ width: 1280, height });
  const span = async (from: string, to: string) => {
    const top = await page.$eval(from, (node) => node.getBoundingClientRect().top);
    const bottom = await page.$eval(to, (node) => node.getBoundingClientRect().bottom);
    return { x: 0, y: top - 12, width: 1280, height: bottom - top + 24 };
  };
  await page.screenshot({ path: join(DOCS, 'dashboard-tasks.png'), clip: await span('#tasks-section', '#failures') });
  await page.screenshot({ path: join(DOCS, 'dashboard-dead.png'), clip: await span('#dead-heading', '#inspect-result') });

  await page.setViewportSize({ width: 1280, height: 900 });
  await page.goto(`${origin}/#/queue/payments`);
  await page.waitForSelector('#groups tbody tr');
  await page.setViewportSize({ width: 1280, height: await page.$eval('body', (body) => body.scrollHeight) });
  await page.screenshot({ path: join(DOCS, 'dashboard-groups.png'), clip: await span('#groups-section', '#groups') });
  await context.close();
  console.log(`wrote ${SHOTS.map((f) => join(DOCS, f)).join(', ')}`);
} finally {
  stopping = true;
  await Promise.all(traffic);
  await app.close();
  await handler.close();
  for (const queue of [orders, exports, reports, webhooks, payments]) await queue.close();
  server.closeAllConnections();
  server.close();
  rmSync(profile, { recursive: true, force: true });
}
