/**
 * Makes docs/dashboard.png and docs/dashboard-queue.png: `npm run docs:screenshots`.
 *
 * Four queues on an in-process MemoryStore (no Redis needed), with traffic while the
 * pictures are taken: `orders` (a data queue read and finished steadily), `emails` (a task
 * queue whose resizeImage task always fails, so its dead letters fill up), `reports`
 * (delayed items) and `webhooks` (leases left to expire into dead letters). The dashboard
 * is served on a free loopback port and photographed in Debian's chromium through
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

const store = new MemoryStore();
const app = new Visq({ store });
const sendEmail = app.task('sendEmail', async (to: string) => {
  await sleep(40 + Math.random() * 80);
  return `sent to ${to}`;
}, { queue: 'emails', visTimeout: 5 });
const resizeImage = app.task('resizeImage', async (url: string) => {
  await sleep(100 + Math.random() * 400);
  throw new Error(`decoder failed: unsupported color profile (${url})`);
}, { queue: 'emails', attempts: 2, visTimeout: 5, useDead: true });

const orders = new DataQueue<{ order: number; total: number }>(store, 'orders', { visTimeout: 30 });
const reports = new DataQueue<{ report: string }>(store, 'reports');
const webhooks = new DataQueue<{ hook: string }>(store, 'webhooks', { visTimeout: 1, attempts: 1, useDead: true });

let stopping = false;

/** Puts orders steadily and reads them in batches, finishing each batch. */
async function orderTraffic(): Promise<void> {
  let n = 0;
  while (!stopping) {
    await orders.putData(Array.from({ length: 40 }, () => ({ order: (n += 1), total: Math.round(Math.random() * 20000) / 100 })));
    const batch = await orders.getData(30, { visTimeout: 30 });
    await sleep(50);
    await orders.doneData([...batch.keys()]);
    await sleep(50);
  }
}

async function seed(): Promise<void> {
  await sendEmail.executeMany(Array.from({ length: 900 }, (_, i) => [`user${i}@example.com`] as [string]));
  // ahead of the emails, so that their failures (and dead letters) show while emails wait
  await resizeImage.executeMany(
    Array.from({ length: 30 }, (_, i) => [`https://example.com/img/${i}.png`] as [string]),
    { priority: 5 },
  );
  await reports.putData([{ report: 'daily' }, { report: 'weekly' }]);
  await reports.putData(Array.from({ length: 6 }, (_, i) => ({ report: `region-${i}` })), { delay: 3600 });
  await webhooks.putData(Array.from({ length: 14 }, (_, i) => ({ hook: `https://hooks.example.com/${i}` })));
  // read and never finished: with one attempt, each lease ends in a dead letter
  await webhooks.getData(9, { visTimeout: 1 });
}

const server = createServer(createDashboardHandler({ store, token: TOKEN }));
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const address = server.address();
const origin = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
const profile = mkdtempSync(join(tmpdir(), 'visq-screenshots-'));
// closed by app.close()
app.worker({ queues: ['emails'], concurrency: 2 });
const traffic = orderTraffic();
try {
  await seed();
  const context = await launchChromium(profile, { width: 1280, height: 520 });
  const page = await context.newPage();
  await page.goto(`${origin}/`);
  // two polls, so the rates have two samples; the webhooks' leases have ended by then
  await sleep(6000);
  await page.screenshot({ path: join(DOCS, 'dashboard.png') });

  await page.setViewportSize({ width: 1280, height: 800 });
  await page.goto(`${origin}/#/queue/emails`);
  await page.fill('#token', TOKEN);
  await page.click('#token-save');
  await page.waitForSelector('#dead-items tbody tr');
  const deadId = await page.getAttribute('#dead-items tbody tr', 'data-id');
  await page.fill('#inspect-id', deadId ?? '');
  await page.click('#inspect-form button');
  await page.waitForSelector('#inspect-result:not([hidden])');
  await sleep(2500);
  await page.screenshot({ path: join(DOCS, 'dashboard-queue.png'), fullPage: true });
  await context.close();
  console.log(`wrote ${join(DOCS, 'dashboard.png')} and ${join(DOCS, 'dashboard-queue.png')}`);
} finally {
  stopping = true;
  await traffic;
  await app.close();
  for (const queue of [orders, reports, webhooks]) await queue.close();
  server.closeAllConnections();
  server.close();
  rmSync(profile, { recursive: true, force: true });
}
