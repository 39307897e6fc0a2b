import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { createDashboardHandler, MemoryStore } from '../../src/index.js';
import { statsRecord } from '../../src/data/stats.js';
import { useStore } from '../harness/context.js';
import { useQueues } from '../harness/queues.js';
import { freePort } from '../harness/redis-server.js';
import { useTaskApps } from '../tasks/helpers.js';
import { action, send, TOKEN, useDashboards } from './helpers.js';

const ctx = useStore();
const open = useQueues(ctx);
const t = useTaskApps(ctx);
const dashboard = useDashboards(ctx);

const XSS_NAME = '<img src=x onerror=alert(1)>';

/** A queue with 2 ready items and 3 dead letters. */
async function queueWithDeadLetters(name = 'orders') {
  const queue = open(name, { visTimeout: 5, attempts: 1, useDead: true });
  await queue.putData([{ n: 1 }, { n: 2 }, { n: 3 }, { n: 4 }, { n: 5 }]);
  await queue.getData(3);
  ctx.advance(10);
  await queue.stats(); // applies the expiries: three dead letters
  return queue;
}

function queuePath(origin: string, name: string, ...rest: string[]): string {
  return [`${origin}/api/queues`, ...[name, ...rest].map(encodeURIComponent)].join('/');
}

describe('dashboard API', () => {
  describe('GET /api/queues', () => {
    it('lists every queue under the prefix with every stats() field', async () => {
      const orders = await queueWithDeadLetters();
      await open('emails').putData(['a']);
      const { origin } = await dashboard();
      const reply = await send(`${origin}/api/queues`);
      expect(reply.status).toBe(200);
      expect(reply.headers['content-type']).toBe('application/json; charset=utf-8');
      expect(reply.headers['cache-control']).toBe('no-store');
      const body = reply.json<{ prefix: string; readOnly: boolean; time: number; queues: Record<string, unknown>[] }>();
      expect(body.prefix).toBe(ctx.prefix);
      expect(body.readOnly).toBe(true);
      expect(typeof body.time).toBe('number');
      expect(body.queues.map((q) => q.name)).toEqual(['emails', 'orders']);
      const { headAge: _age, ...stats } = statsRecord(await orders.stats());
      expect(body.queues[1]).toMatchObject({ name: 'orders', ...stats, ready: 2, dead: 3 });
    });

    it('says it accepts actions when it has a token', async () => {
      const { origin } = await dashboard({ token: TOKEN });
      expect((await send(`${origin}/api/queues`)).json().readOnly).toBe(false);
    });
  });

  describe('GET /api/queues/:name', () => {
    it('gives the stats, the next ready items and the dead letters', async () => {
      const queue = await queueWithDeadLetters();
      const { origin } = await dashboard();
      const body = (await send(queuePath(origin, 'orders'))).json<{
        name: string;
        stats: Record<string, number>;
        ready: { id: string; item: unknown }[];
        dead: { id: string; item: unknown }[];
        tasks: unknown[];
      }>();
      expect(body.name).toBe('orders');
      expect(body.stats).toMatchObject({ ready: 2, dead: 3, puts: 5, deliveries: 3, expiries: 3, deadLettered: 3 });
      expect(body.ready).toEqual([...(await queue.peekData(20))].map(([id, item]) => ({ id, item })));
      expect(body.ready.map((r) => r.item)).toEqual([{ n: 4 }, { n: 5 }]);
      expect(body.dead.map((r) => r.item)).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }]);
      expect(body.tasks).toEqual([]);
    });

    it('shows at most `limit` items of each', async () => {
      await queueWithDeadLetters();
      const { origin } = await dashboard();
      const body = (await send(`${queuePath(origin, 'orders')}?limit=1`)).json<{ ready: unknown[]; dead: unknown[] }>();
      expect([body.ready.length, body.dead.length]).toEqual([1, 1]);
      const bad = await send(`${queuePath(origin, 'orders')}?limit=0`);
      expect(bad.status).toBe(400);
      expect(bad.json().error).toBe('Expected `limit` to be an integer from 1 to 1000, got 0 (number)');
    });

    it("gives a task queue's task metrics, the +Inf bound as a string", async () => {
      const app = t.app();
      const add = app.task('add', (a: number, b: number) => a + b);
      const run = await add.execute([1, 2]);
      const worker = t.worker(app);
      expect(await run.wait(10)).toBe(true);
      await worker.close();
      const { origin } = await dashboard();
      const body = (await send(queuePath(origin, 'default'))).json<{
        tasks: { task: string; started: number; done: number; runTime: { count: number; buckets: { le: number | string }[] } }[];
      }>();
      expect(body.tasks).toMatchObject([{ task: 'add', started: 1, done: 1, runTime: { count: 1 } }]);
      expect(body.tasks[0]?.runTime.buckets.at(-1)?.le).toBe('+Inf');
      expect(body.tasks[0]?.runTime.buckets[0]?.le).toBe(0.005);
    });

    it('takes any queue name, URL-encoded as one path segment', async () => {
      for (const name of ['a/b', XSS_NAME, 'spaces and ?#&']) await open(name).putData([name]);
      const { origin } = await dashboard();
      for (const name of ['a/b', XSS_NAME, 'spaces and ?#&']) {
        const body = (await send(queuePath(origin, name))).json<{ name: string; ready: { item: unknown }[] }>();
        expect(body.name).toBe(name);
        expect(body.ready.map((r) => r.item)).toEqual([name]);
      }
    });

    it('refuses a queue outside its `queues`, and a bad name', async () => {
      await open('shown').putData([1]);
      await open('hidden').putData([1]);
      const { origin } = await dashboard({ queues: ['shown'] });
      expect((await send(queuePath(origin, 'shown'))).status).toBe(200);
      expect((await send(queuePath(origin, 'hidden'))).status).toBe(404);
      expect((await send(`${origin}/api/queues`)).json<{ queues: { name: string }[] }>().queues.map((q) => q.name)).toEqual(['shown']);
      expect((await send(`${origin}/api/queues/%E0%A4%A`)).status).toBe(400);
      expect((await send(`${origin}/api/queues/${'x'.repeat(257)}`)).status).toBe(400);
    });
  });

  describe('GET /api/queues/:name/items/:id', () => {
    it('tells where an item is: ready, delayed until, in flight until, dead', async () => {
      const queue = open('states', { visTimeout: 30, attempts: 2, useDead: true });
      ctx.freeze(Date.UTC(2026, 10, 23, 15, 0, 0));
      const [inflight] = await queue.putData(['inflight']);
      const [held] = await queue.getDeliveries(1);
      const [dead] = await queue.putData(['dead']);
      const [failing] = await queue.getDeliveries(1);
      await queue.failData([failing?.lease ?? ''], { useDead: true });
      const [ready] = await queue.putData(['ready']);
      const [delayed] = await queue.putData(['delayed'], { delay: 60 });
      const { origin } = await dashboard();
      const inspect = async (id: string | undefined) => (await send(queuePath(origin, 'states', 'items', id ?? ''))).json();

      expect(await inspect(ready)).toEqual({
        queue: 'states',
        id: ready,
        state: 'ready',
        deliveries: 0,
        priority: 0,
        item: 'ready',
      });
      expect(await inspect(delayed)).toMatchObject({ state: 'delayed', visibleAt: '2026-11-23T15:01:00.000Z', deliveries: 0 });
      expect(await inspect(inflight)).toMatchObject({
        state: 'inflight',
        leaseUntil: '2026-11-23T15:00:30.000Z',
        deliveries: 1,
        lease: held?.lease,
      });
      expect(await inspect(dead)).toMatchObject({ state: 'dead', item: 'dead' });
    });

    it("adds the task's status and attempt for a task queue's item", async () => {
      const app = t.app();
      const gate = t.gate();
      const slow = app.task('slow', () => gate.pass(), { attempts: 3, visTimeout: 30 });
      const run = await slow.execute([]);
      const worker = t.worker(app);
      expect(await run.wait(10, { until: 'started' })).toBe(true);
      const { origin } = await dashboard();
      const body = await send(queuePath(origin, 'default', 'items', run.id));
      expect(body.json()).toMatchObject({
        state: 'inflight',
        deliveries: 1,
        task: { name: 'slow', id: run.id, status: 'started', attempt: 1 },
      });
      gate.open();
      expect(await run.wait(10)).toBe(true);
      await worker.close();
    });

    it('finds a queued task by its task id', async () => {
      const app = t.app();
      const et = await app.task('later', () => undefined).execute([], { delay: 60 });
      const { origin } = await dashboard();
      expect((await send(queuePath(origin, 'default', 'items', et.id))).json()).toMatchObject({
        id: et.id,
        state: 'delayed',
        task: { name: 'later', id: et.id, status: 'delayed' },
      });
    });

    it('answers 404 for an item that is not there', async () => {
      await open('q').putData([1]);
      const { origin } = await dashboard();
      const reply = await send(queuePath(origin, 'q', 'items', 'no-such-id'));
      expect(reply.status).toBe(404);
      expect(reply.json().error).toBe('No item or task "no-such-id" in the queue "q" or its dead letters');
    });
  });

  describe('POST actions', () => {
    it('redrives dead letters with the token', async () => {
      const queue = await queueWithDeadLetters();
      const { origin } = await dashboard({ token: TOKEN });
      const reply = await action(queuePath(origin, 'orders', 'redrive'));
      expect(reply.status).toBe(200);
      expect(reply.json()).toEqual({ queue: 'orders', moved: 3 });
      expect(await queue.stats()).toEqual({ ready: 5, delayed: 0, inflight: 0, dead: 0 });
    });

    it('redrives only `count` dead letters when asked', async () => {
      const queue = await queueWithDeadLetters();
      const { origin } = await dashboard({ token: TOKEN });
      expect((await action(queuePath(origin, 'orders', 'redrive'), TOKEN, '{"count":2}')).json()).toEqual({ queue: 'orders', moved: 2 });
      expect((await queue.stats()).dead).toBe(1);
      const bad = await action(queuePath(origin, 'orders', 'redrive'), TOKEN, '{"count":-1}');
      expect(bad.status).toBe(400);
      expect((await action(queuePath(origin, 'orders', 'redrive'), TOKEN, '{"cout":1}')).json().error).toMatch(/Unknown option `body.cout`/);
      expect((await action(queuePath(origin, 'orders', 'redrive'), TOKEN, 'not json')).status).toBe(400);
      expect((await queue.stats()).dead).toBe(1);
    });

    it('purges dead letters with the token, leaving the rest of the queue', async () => {
      const queue = await queueWithDeadLetters();
      const { origin } = await dashboard({ token: TOKEN });
      const reply = await action(queuePath(origin, 'orders', 'purge-dead'));
      expect(reply.json()).toEqual({ queue: 'orders', purged: 3 });
      expect(await queue.stats()).toEqual({ ready: 2, delayed: 0, inflight: 0, dead: 0 });
      expect((await send(`${origin}/api/queues`)).json<{ queues: { name: string }[] }>().queues.map((q) => q.name)).toEqual(['orders']);
    });

    describe('refusals, each of which changes nothing', () => {
      async function refused(
        options: Parameters<typeof dashboard>[0],
        request: (url: string) => ReturnType<typeof action>,
      ): Promise<{ status: number; error: string; headers: Record<string, unknown> }> {
        const queue = await queueWithDeadLetters();
        const { origin } = await dashboard(options);
        const before = await ctx.snapshot();
        const reply = await request(queuePath(origin, 'orders', 'redrive'));
        const purge = await request(queuePath(origin, 'orders', 'purge-dead'));
        expect(purge.status).toBe(reply.status);
        expect(await ctx.snapshot()).toEqual(before);
        expect((await queue.stats()).dead).toBe(3);
        return { status: reply.status, error: reply.json<{ error: string }>().error, headers: reply.headers };
      }

      it('refuses every action without a token configured: read-only', async () => {
        const { status, error } = await refused({}, (url) => action(url));
        expect(status).toBe(403);
        expect(error).toMatch(/^The dashboard is read-only/);
      });

      it('refuses a request without the token', async () => {
        const { status, error, headers } = await refused({ token: TOKEN }, (url) => action(url, null));
        expect(status).toBe(401);
        expect(error).toBe('Missing or wrong token: send Authorization: Bearer <token>');
        expect(headers['www-authenticate']).toBe('Bearer realm="visq"');
      });

      it('refuses a wrong token, also one that only starts right', async () => {
        expect((await refused({ token: TOKEN }, (url) => action(url, 'wrong-token-0123456789'))).status).toBe(401);
      });

      it('refuses a token of the right length but another value', async () => {
        expect((await refused({ token: TOKEN }, (url) => action(url, `${TOKEN.slice(0, -1)}X`))).status).toBe(401);
      });

      it('refuses a cross-origin request, even with the token', async () => {
        const { status, error } = await refused({ token: TOKEN }, (url) => action(url, TOKEN, '{}', { Origin: 'http://evil.example' }));
        expect(status).toBe(403);
        expect(error).toBe('Cross-origin request refused (Origin "http://evil.example")');
      });

      it('refuses another port of the same host as another origin', async () => {
        const { status } = await refused({ token: TOKEN }, (url) => action(url, TOKEN, '{}', { Origin: 'http://127.0.0.1:1' }));
        expect(status).toBe(403);
      });

      it('refuses a request a browser marks as cross-site', async () => {
        const { status, error } = await refused({ token: TOKEN }, (url) => action(url, TOKEN, '{}', { 'Sec-Fetch-Site': 'cross-site' }));
        expect(status).toBe(403);
        expect(error).toMatch(/Sec-Fetch-Site "cross-site"/);
      });

      it('refuses a body that is not JSON, as an HTML form would send it', async () => {
        const { status } = await refused({ token: TOKEN }, (url) =>
          action(url, TOKEN, 'count=1', { 'Content-Type': 'application/x-www-form-urlencoded' }),
        );
        expect(status).toBe(415);
      });

      it('refuses GET on an action', async () => {
        const { status, headers } = await refused({ token: TOKEN }, (url) => send(url, { headers: { Authorization: `Bearer ${TOKEN}` } }));
        expect(status).toBe(405);
        expect(headers.allow).toBe('POST');
      });
    });

    it('accepts a same-origin request as a browser sends it', async () => {
      const queue = await queueWithDeadLetters();
      const { origin, port } = await dashboard({ token: TOKEN });
      const reply = await action(queuePath(origin, 'orders', 'redrive'), TOKEN, '{}', {
        Origin: `http://127.0.0.1:${port}`,
        'Sec-Fetch-Site': 'same-origin',
        'Content-Type': 'application/json; charset=utf-8',
      });
      expect(reply.status).toBe(200);
      expect((await queue.stats()).dead).toBe(0);
    });
  });

  describe('the page and the server', () => {
    it('serves the page with a policy that lets only its own script run', async () => {
      const { origin } = await dashboard();
      const page = await send(`${origin}/`);
      expect(page.status).toBe(200);
      expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(page.headers['content-security-policy']).toContain("script-src 'self'");
      expect(page.headers['content-security-policy']).toContain("frame-ancestors 'none'");
      expect(page.headers['x-frame-options']).toBe('DENY');
      expect(page.text).toContain('<script type="module" src="app.js"></script>');
      for (const script of ['app.js', 'chart.js', 'format.js', 'overview.js', 'queue.js']) {
        expect((await send(`${origin}/${script}`)).headers['content-type']).toBe('text/javascript; charset=utf-8');
      }
      expect((await send(`${origin}/style.css`)).headers['content-type']).toBe('text/css; charset=utf-8');
      expect((await send(`${origin}/nothing-here`)).status).toBe(404);
      expect((await send(`${origin}//evil.example/`)).status).toBe(404);
    });

    it('returns user data only as JSON, never inside the page', async () => {
      await open(XSS_NAME).putData([{ html: '<script>alert(1)</script>' }]);
      const { origin } = await dashboard();
      expect((await send(`${origin}/`)).text).not.toContain('onerror');
      const list = await send(`${origin}/api/queues`);
      expect(list.headers['content-type']).toBe('application/json; charset=utf-8');
      expect(list.headers['x-content-type-options']).toBe('nosniff');
      expect(list.json<{ queues: { name: string }[] }>().queues[0]?.name).toBe(XSS_NAME);
    });

    it('serves /metrics too', async () => {
      await open('m').putData([1]);
      const { origin } = await dashboard();
      const reply = await send(`${origin}/metrics`);
      expect(reply.status).toBe(200);
      expect(reply.text).toContain('visq_queue_items{queue="m",state="ready"} 1');
    });

    it('refuses a Host outside `allowedHosts` (DNS rebinding)', async () => {
      const { origin, port } = await dashboard({ allowedHosts: ['localhost', '127.0.0.1'] });
      expect((await send(`${origin}/api/queues`)).status).toBe(200);
      expect((await send(`${origin}/api/queues`, { headers: { Host: `localhost:${port}` } })).status).toBe(200);
      const rebound = await send(`${origin}/api/queues`, { headers: { Host: `evil.example:${port}` } });
      expect(rebound.status).toBe(403);
      expect(rebound.json().error).toBe(`The Host "evil.example:${port}" is not one this dashboard answers to`);
      expect((await send(`${origin}/metrics`, { headers: { Host: 'evil.example' } })).status).toBe(403);
    });

    it('answers 503 while the store fails, and reports the error', async () => {
      const errors: unknown[] = [];
      const broken = new Redis({ port: await freePort(), lazyConnect: true, enableOfflineQueue: false, retryStrategy: () => null });
      broken.on('error', () => {});
      // no sampling: its failures are reported too (see history-api.test.ts)
      const { origin } = await dashboard({ store: undefined, redis: broken, historyInterval: 0, onError: (e) => errors.push(e) });
      const reply = await send(`${origin}/api/queues`);
      expect(reply.status).toBe(503);
      expect(errors).toHaveLength(1);
      broken.disconnect();
    });

    it('checks its options', () => {
      const store = new MemoryStore();
      expect(() => createDashboardHandler({ store, token: 'short' })).toThrow(
        'Expected `options.token` to be a string of 16 to 1024 characters without whitespace',
      );
      expect(() => createDashboardHandler({ store, token: `${TOKEN} x` })).toThrow(RangeError);
      expect(() => createDashboardHandler({ store, allowedHosts: 'localhost' as never })).toThrow(TypeError);
      expect(() => createDashboardHandler({ store, tokn: TOKEN } as never)).toThrow('Unknown option `options.tokn`');
    });
  });
});
