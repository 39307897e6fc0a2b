/**
 * visq demo: counting page views with batch aggregators, one of which crashes.
 *
 * Two producers put 20,000 page views `{ page, ms }` in batches. Four aggregators read
 * batches of 100 under a 5 s lease, add them to shared totals and mark them done. One
 * aggregator crashes while holding a batch: its lease expires, the others get those items
 * again, and the done it sends when it comes back finishes nothing. At the end the totals
 * must equal what the producers put: nothing lost, nothing counted twice.
 *
 * The store: the Redis at REDIS_URL when set; else a private redis-server started from
 * PATH; else, with no Redis at all, the in-process MemoryStore (same contract). It says
 * which. Run: npm run demo
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { DataQueue, MemoryStore, type Delivery, type StoreLike } from '../src/index.js';

interface PageView { page: string; ms: number }
type Totals = Map<string, { views: number; ms: number }>;

const EVENTS = 20_000;
const PRODUCERS = 2;
const PUT_BATCH = 500;
const AGGREGATORS = 4;
const READ_BATCH = 100;
const LEASE = 5; // seconds an aggregator may hold a batch before it is handed out again
// A crashed worker would hold a normal 5 s lease; the one that crashes here reads its
// last batch with a 1 s lease so that the demo does not sit idle waiting for it.
const CRASH_LEASE = 1;
const CRASH_AT_READ = 5;
const PAGES = ['/', '/pricing', '/docs', '/blog', '/signup'];

const fmt = (n: number): string => n.toLocaleString('en-US');

function addViews(totals: Totals, views: Iterable<PageView>): void {
  for (const { page, ms } of views) {
    const total = totals.get(page) ?? { views: 0, ms: 0 };
    total.views += 1;
    total.ms += ms;
    totals.set(page, total);
  }
}

/** Starts redis-server on a free port in a temp dir, nothing persisted. */
async function startRedisServer(): Promise<{ url: string; stop: () => Promise<void> }> {
  const port = await new Promise<number>((resolve, reject) => {
    const probe = createServer().once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
  const dir = mkdtempSync(join(tmpdir(), 'visq-demo-'));
  const child = spawn('redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no'],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  process.once('exit', () => child.kill('SIGKILL')); // last resort; a no-op once it has exited
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await new Promise<void>((resolve, reject) => {
      let log = '';
      const read = (chunk: Buffer): void => {
        log += chunk.toString();
        if (log.includes('Ready to accept connections')) resolve();
      };
      child.stdout.on('data', read);
      child.stderr.on('data', read);
      child.once('error', reject);
      child.once('exit', (code) => reject(new Error(`redis-server exited (code ${code}) before it was ready:\n${log}`)));
    });
  } catch (error) {
    await stop();
    throw error;
  }
  return { url: `redis://127.0.0.1:${port}`, stop };
}

/** REDIS_URL, else a private redis-server, else a MemoryStore: the store and a line saying which. */
async function openStore(): Promise<{ store: StoreLike; label: string; close: () => Promise<void> }> {
  const external = process.env.REDIS_URL;
  const server = external ? undefined : await startRedisServer().catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'ENOENT') throw error; // ENOENT: no redis-server on PATH
  });
  if (!external && !server) {
    const store = new MemoryStore();
    return { store, close: () => store.close(), label: 'MemoryStore (no REDIS_URL, no redis-server on PATH), in this process' };
  }
  const redis = new Redis(external ?? server?.url ?? '', { maxRetriesPerRequest: 3 });
  return { store: redis, close: async () => { redis.disconnect(); await server?.stop(); }, label: external
    ? `Redis at REDIS_URL ${external.replace(/\/\/[^@/]*@/, '//***@')}`
    : `private redis-server at ${server?.url} (temp dir, nothing persisted; stopped at exit)` };
}

async function run(store: StoreLike): Promise<boolean> {
  const events = new DataQueue<PageView>(store, `pageviews-${process.pid}`, {
    prefix: 'visq-demo', visTimeout: LEASE, attempts: 3, useDead: true,
  });
  const expected: Totals = new Map(); // what the producers put
  const counted: Totals = new Map(); // what the aggregators finished
  let put = 0, finished = 0, redeliveries = 0, crashedBatch = 0, partialDones = 0, firstPass = 0;
  const stop = new AbortController();
  const started = performance.now();
  const elapsed = (): number => (performance.now() - started) / 1000;
  const tty = process.stdout.isTTY === true;
  const say = (line: string): void => { process.stdout.write(`${tty ? '\r\x1b[K' : ''}${line}\n`); };

  async function produce(count: number): Promise<void> {
    for (let sent = 0; sent < count; sent += PUT_BATCH) {
      const batch = Array.from({ length: Math.min(PUT_BATCH, count - sent) }, () => ({
        page: PAGES[Math.floor(Math.random() * PAGES.length)] ?? '/',
        ms: 20 + Math.floor(Math.random() * 2000),
      }));
      await events.putData(batch);
      addViews(expected, batch); // counted once the put succeeded
      put += batch.length;
    }
  }

  // Counts a batch only if done finished it. The items of one read share one lease
  // deadline, so done finishes all of them, or none once the lease has expired (the items
  // then belong to whoever reads them next). A partial count could not be attributed to
  // items, so it is recorded as a failure, never guessed.
  function settle(batch: Delivery<PageView>[], doneCount: number): void {
    if (doneCount === batch.length) {
      addViews(counted, batch.map((d) => d.item));
      finished += doneCount;
      if (crashedBatch > 0 && finished === EVENTS - crashedBatch) firstPass = elapsed();
      if (finished >= EVENTS) stop.abort();
    } else if (doneCount !== 0) {
      partialDones += 1;
    }
  }

  async function aggregate(crashAt?: number): Promise<void> {
    for (let read = 1; !stop.signal.aborted; read += 1) {
      const visTimeout = read === crashAt ? CRASH_LEASE : LEASE;
      // getDeliveries is getData with each item's id and delivery number (2+ = redelivered)
      const batch = await events.getDeliveries(READ_BATCH, { visTimeout, wait: 1, signal: stop.signal });
      redeliveries += batch.filter((d) => d.delivery > 1).length;
      if (read === crashAt) return crash(batch);
      if (batch.length > 0) settle(batch, await events.doneData(batch.map((d) => d.lease)));
    }
  }

  // The crash: no done within the lease. When this aggregator comes back, its done is a
  // no-op: the lease went stale the moment its deadline passed.
  async function crash(batch: Delivery<PageView>[]): Promise<void> {
    crashedBatch = batch.length;
    say(`aggregator ${AGGREGATORS} crashed holding ${batch.length} items (lease ${CRASH_LEASE} s)`);
    await sleep(CRASH_LEASE * 1000 + 500);
    const doneCount = await events.doneData(batch.map((d) => d.lease));
    say(`aggregator ${AGGREGATORS} came back after its lease expired: done finished ${doneCount} of ${batch.length}`);
    settle(batch, doneCount);
  }

  let lastLine = 0;
  const showProgress = (): void => {
    const line = `put ${fmt(put)}/${fmt(EVENTS)}  counted ${fmt(finished)}  redelivered ${redeliveries}  ${elapsed().toFixed(1)} s`;
    if (tty) process.stdout.write(`\r\x1b[K${line}`);
    else if (performance.now() - lastLine >= 500) { console.log(line); lastLine = performance.now(); }
  };
  const progress = setInterval(showProgress, 100);
  let timedOut = false;
  const guard = setTimeout(() => { timedOut = true; stop.abort(); }, 15_000);
  try {
    await events.clear();
    await Promise.all([
      ...Array.from({ length: PRODUCERS }, () => produce(EVENTS / PRODUCERS)),
      ...Array.from({ length: AGGREGATORS }, (_, i) => aggregate(i === AGGREGATORS - 1 ? CRASH_AT_READ : undefined)),
    ]);
  } finally {
    stop.abort();
    clearInterval(progress);
    clearTimeout(guard);
  }
  const seconds = elapsed();
  lastLine = 0;
  showProgress();
  if (tty) process.stdout.write('\n');

  const stats = await events.stats();
  await events.clear();
  await events.close();
  const problems: string[] = [];
  if (timedOut) problems.push('gave up after 15 s');
  if (partialDones > 0) problems.push(`${partialDones} done calls finished part of a batch`);
  if (stats.ready + stats.delayed + stats.inflight > 0) problems.push(`items left: ${JSON.stringify(stats)}`);
  console.log('\npage       views   avg ms');
  for (const page of PAGES) {
    const want = expected.get(page) ?? { views: 0, ms: 0 };
    const got = counted.get(page) ?? { views: 0, ms: 0 };
    console.log(`${page.padEnd(9)} ${fmt(got.views).padStart(6)} ${(got.ms / Math.max(got.views, 1)).toFixed(1).padStart(8)}`);
    if (got.views !== want.views || got.ms !== want.ms) {
      problems.push(`${page}: counted ${got.views} views / ${got.ms} ms, put ${want.views} / ${want.ms}`);
    }
  }
  const firstSeconds = firstPass || seconds;
  console.log(`\n${fmt(finished)} of ${fmt(put)} events aggregated in ${seconds.toFixed(2)} s: ` +
    `${fmt(EVENTS - crashedBatch)} in ${firstSeconds.toFixed(2)} s (${fmt(Math.round((EVENTS - crashedBatch) / firstSeconds))} items/s), ` +
    `then ${crashedBatch} once the crashed lease had expired`);
  console.log(`redeliveries: ${redeliveries} (the crashed batch held ${crashedBatch}), dead letters: ${stats.dead}`);
  for (const problem of problems) console.log(`FAIL: ${problem}`);
  if (problems.length === 0) console.log('check: totals equal what the producers put (nothing lost, nothing counted twice): OK');
  return problems.length === 0;
}

const opened = await openStore().catch((error: Error) => {
  console.error(`demo: ${error.message}`);
  return process.exit(1);
});
process.once('SIGINT', () => { void opened.close().finally(() => process.exit(130)); });
console.log(`Store: ${opened.label}`);
try {
  process.exitCode = (await run(opened.store)) ? 0 : 1;
} catch (error) {
  console.error(error);
  process.exitCode = 1;
} finally {
  await opened.close();
}
