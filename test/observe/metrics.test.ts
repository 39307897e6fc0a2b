import { createServer } from 'node:http';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { createMetricsHandler, MemoryStore } from '../../src/index.js';
import { statsRecord } from '../../src/data/stats.js';
import { useStore } from '../harness/context.js';
import { useQueues } from '../harness/queues.js';
import { freePort } from '../harness/redis-server.js';
import { useTaskApps } from '../tasks/helpers.js';
import { parseScrape, send, useServers, type Scrape } from './helpers.js';

const ctx = useStore();
const open = useQueues(ctx);
const t = useTaskApps(ctx);
const serve = useServers();

/** The metric of each stats() field. */
const QUEUE_METRICS = {
  puts: 'visq_queue_puts_total',
  deliveries: 'visq_queue_deliveries_total',
  dones: 'visq_queue_dones_total',
  expiries: 'visq_queue_lease_expiries_total',
  deadLettered: 'visq_queue_dead_lettered_total',
  dropped: 'visq_queue_dropped_total',
  expired: 'visq_queue_ttl_expired_total',
  emptyReads: 'visq_queue_empty_reads_total',
  headAge: 'visq_queue_head_age_seconds',
} as const;

async function scrape(options: Parameters<typeof createMetricsHandler>[0] = { store: ctx.store, prefix: ctx.prefix }): Promise<Scrape> {
  const { origin } = await serve(createMetricsHandler(options));
  const reply = await send(`${origin}/metrics`);
  expect(reply.status).toBe(200);
  expect(reply.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
  return parseScrape(reply.text);
}

/** A queue that has seen every kind of event: done, lease expiries into dead letters, an empty read, a ttl drop. */
async function busyQueue(name: string): Promise<void> {
  const queue = open(name, { visTimeout: 5, attempts: 1, useDead: true });
  await queue.putData([{ n: 1 }, { n: 2 }, { n: 3 }, { n: 4 }, { n: 5 }]);
  await queue.putData([{ n: 6 }], { ttl: 1, priority: 1 });
  ctx.advance(2); // the ttl passes: item 6 is dropped as expired
  const batch = await queue.getData(3);
  await queue.doneData([...batch.keys()].slice(0, 1));
  ctx.advance(10); // the two other leases expire: dead letters
  await queue.getData(2, { visTimeout: 0 });
  await queue.getData(1, { visTimeout: 0 }); // found nothing
}

describe('createMetricsHandler', () => {
  it('exposes every stats() field of every queue, as stats() reads them', async () => {
    ctx.freeze(Date.now());
    await busyQueue('orders');
    const other = open('emails');
    await other.putData(['a', 'b']);
    ctx.advance(3);

    const scraped = await scrape();
    for (const [name, queue] of [['orders', open('orders')], ['emails', other]] as const) {
      const stats = statsRecord(await queue.stats());
      for (const state of ['ready', 'delayed', 'inflight', 'dead'] as const) {
        expect(scraped.value('visq_queue_items', { queue: name, state }), `${name} ${state}`).toBe(stats[state]);
      }
      for (const [field, metric] of Object.entries(QUEUE_METRICS)) {
        expect(scraped.value(metric, { queue: name }), `${name} ${field}`).toBe(stats[field as keyof typeof QUEUE_METRICS]);
      }
    }
    // the scenario's own figures, so that the comparison above is not between two zeros
    expect(statsRecord(await open('orders').stats())).toMatchObject({
      puts: 6, deliveries: 5, dones: 1, expiries: 2, deadLettered: 2, expired: 1, emptyReads: 1, dead: 2,
    });
    expect(scraped.value('visq_queue_head_age_seconds', { queue: 'emails' })).toBe(3);
  });

  it('types the counts as gauges and the running totals as counters', async () => {
    await busyQueue('orders');
    const { types } = await scrape();
    expect(types.get('visq_queue_items')).toBe('gauge');
    expect(types.get('visq_queue_head_age_seconds')).toBe('gauge');
    for (const metric of Object.values(QUEUE_METRICS).filter((m) => m.endsWith('_total'))) expect(types.get(metric)).toBe('counter');
    for (const metric of ['started', 'done', 'failed', 'retried']) expect(types.get(`visq_task_${metric}_total`)).toBe('counter');
    for (const part of ['bucket', 'sum', 'count']) expect(types.get(`visq_task_run_seconds_${part}`)).toBe('counter');
  });

  it('exposes the task counts and the run-time histogram of each task', async () => {
    const app = t.app();
    let calls = 0;
    const add = app.task('add', (a: number, b: number) => a + b);
    const flaky = app.task('flaky', () => {
      calls += 1;
      if (calls < 2) throw new Error('not yet');
    }, { attempts: 3, queue: 'jobs' });
    const runs = [await add.execute([1, 2]), await add.execute([3, 4]), await flaky.execute([])];
    const worker = t.worker(app, { queues: ['default', 'jobs'] });
    for (const run of runs) expect(await run.wait(10)).toBe(true);
    await worker.close();

    const scraped = await scrape();
    const expected = [...(await app.taskMetrics('default')), ...(await app.taskMetrics('jobs'))];
    expect(expected.map((m) => [m.queue, m.task, m.started, m.done, m.retried])).toEqual([
      ['default', 'add', 2, 2, 0],
      ['jobs', 'flaky', 2, 1, 1],
    ]);
    for (const m of expected) {
      const labels = { queue: m.queue, task: m.task };
      expect(scraped.value('visq_task_started_total', labels)).toBe(m.started);
      expect(scraped.value('visq_task_done_total', labels)).toBe(m.done);
      expect(scraped.value('visq_task_failed_total', labels)).toBe(m.failed);
      expect(scraped.value('visq_task_retried_total', labels)).toBe(m.retried);
      expect(scraped.value('visq_task_run_seconds_count', labels)).toBe(m.runTime.count);
      expect(scraped.value('visq_task_run_seconds_sum', labels)).toBeCloseTo(m.runTime.sumSeconds, 6);
      for (const { le, count } of m.runTime.buckets) {
        const bound = Number.isFinite(le) ? String(le) : '+Inf';
        expect(scraped.value('visq_task_run_seconds_bucket', { ...labels, le: bound }), `le ${bound}`).toBe(count);
      }
      expect(scraped.value('visq_task_run_seconds_bucket', { ...labels, le: '+Inf' })).toBe(m.runTime.count);
    }
  });

  it('writes queue names as label values Prometheus reads back unchanged', async () => {
    const names = ['say "hi"', 'back\\slash', 'two\nlines', '<img src=x onerror=alert(1)>', 'ünï/cødé'];
    for (const name of names) await open(name).putData([1]);
    const scraped = await scrape();
    for (const name of names) expect(scraped.value('visq_queue_items', { queue: name, state: 'ready' }), name).toBe(1);
  });

  it('reports only the queues it is given, in their order', async () => {
    for (const name of ['a', 'b', 'c']) await open(name).putData([name]);
    const scraped = await scrape({ store: ctx.store, prefix: ctx.prefix, queues: ['c', 'a', 'never-used'] });
    const queues = scraped.samples.filter((s) => s.name === 'visq_queue_puts_total').map((s) => s.labels.queue);
    expect(queues).toEqual(['c', 'a', 'never-used']);
    expect(scraped.value('visq_queue_puts_total', { queue: 'never-used' })).toBe(0);
  });

  it('lists nothing, and still answers, when the prefix has no queues', async () => {
    const scraped = await scrape();
    expect(scraped.samples).toEqual([]);
    expect(scraped.types.get('visq_queue_items')).toBe('gauge');
  });

  it('sees a new queue at the next scrape', async () => {
    const { origin } = await serve(createMetricsHandler({ store: ctx.store, prefix: ctx.prefix }));
    expect(parseScrape((await send(`${origin}/metrics`)).text).value('visq_queue_puts_total', { queue: 'late' })).toBeUndefined();
    await open('late').putData([1, 2]);
    expect(parseScrape((await send(`${origin}/metrics`)).text).value('visq_queue_puts_total', { queue: 'late' })).toBe(2);
  });

  it('answers 503 with the reason when the store cannot be read, and reports the error', async () => {
    const port = await freePort();
    const broken = new Redis({ port, host: '127.0.0.1', lazyConnect: true, enableOfflineQueue: false, retryStrategy: () => null });
    broken.on('error', () => {});
    const errors: unknown[] = [];
    const { origin } = await serve(createMetricsHandler({ redis: broken, onError: (error) => errors.push(error) }));
    const reply = await send(`${origin}/metrics`);
    expect(reply.status).toBe(503);
    expect(reply.text).toMatch(/^visq metrics: /);
    expect(errors).toHaveLength(1);
    broken.disconnect();
  });

  it('refuses other methods than GET and HEAD', async () => {
    const { origin } = await serve(createMetricsHandler({ store: ctx.store, prefix: ctx.prefix }));
    const reply = await send(`${origin}/metrics`, { method: 'POST' });
    expect(reply.status).toBe(405);
    expect(reply.headers.allow).toBe('GET, HEAD');
  });

  it('checks its options', () => {
    expect(() => createMetricsHandler({} as never)).toThrow('Expected exactly one of `options.redis` and `options.store`');
    expect(() => createMetricsHandler({ store: new MemoryStore(), redis: ctx.store } as never)).toThrow(TypeError);
    expect(() => createMetricsHandler({ store: new MemoryStore(), prefx: 'x' } as never)).toThrow('Unknown option `options.prefx`');
    expect(() => createMetricsHandler({ store: new MemoryStore(), prefix: 'a{b' })).toThrow(RangeError);
    expect(() => createMetricsHandler({ store: new MemoryStore(), queues: ['ok', ''] })).toThrow('options.queues[1]');
    expect(() => createMetricsHandler({ store: new MemoryStore(), onError: 'log' as never })).toThrow(TypeError);
  });

  it('works as a route of an existing server', async () => {
    const metrics = createMetricsHandler({ store: ctx.store, prefix: ctx.prefix });
    await open('routed').putData([1]);
    const server = createServer((req, res) => {
      if (req.url === '/metrics') metrics(req, res);
      else res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    try {
      const scraped = parseScrape((await send(`http://127.0.0.1:${port}/metrics`)).text);
      expect(scraped.value('visq_queue_items', { queue: 'routed', state: 'ready' })).toBe(1);
      expect((await send(`http://127.0.0.1:${port}/other`)).status).toBe(404);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('reads the totals every process sees, not this process’s own', async () => {
    const queue = open('shared');
    await queue.putData([1, 2, 3]);
    const elsewhere = open('shared', {}, ctx.elsewhere());
    await elsewhere.getData(2);
    const scraped = await scrape();
    expect(scraped.value('visq_queue_deliveries_total', { queue: 'shared' })).toBe(2);
    expect(scraped.value('visq_queue_items', { queue: 'shared', state: 'ready' })).toBe(1);
  });
});
