/**
 * `visq serve` and the task fields of `visq inspect`, run as real processes
 * (`node --import tsx src/cli/main.ts ...`) against the file's private redis-server.
 */
import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { describe, expect, it } from 'vitest';
import { Visq } from '../../src/index.js';
import { useStore } from '../harness/context.js';
import { freePort } from '../harness/redis-server.js';
import { action, parseScrape, send, TOKEN } from '../observe/helpers.js';
import { finished, useCli, type Finished } from './processes.js';

const ctx = useStore();
const cli = useCli(ctx);
const { start, open } = cli;

/** `visq serve --json` on a free port of this file's Redis; resolves with its `listening` event. */
async function serve(
  args: readonly string[] = [],
  env: NodeJS.ProcessEnv = {},
): Promise<{ child: ChildProcess; listening: Record<string, unknown>; lines: Record<string, unknown>[]; exit: Promise<Finished> }> {
  const child = start(['serve', '--port', '0', '--json', '--redis-url', ctx.server.url, '--prefix', ctx.prefix, ...args], env);
  const lines: Record<string, unknown>[] = [];
  const exit = finished(child);
  const listening = await new Promise<Record<string, unknown>>((resolve, reject) => {
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      const event = JSON.parse(line) as Record<string, unknown>;
      lines.push(event);
      if (event.event === 'listening') resolve(event);
    });
    void exit.then(({ stderr }) => reject(new Error(`visq serve exited before listening: ${stderr}`)), reject);
  });
  return { child, listening, lines, exit };
}

describe.skipIf(ctx.kind !== 'redis')('visq serve', () => {
  it('serves the dashboard, its API and /metrics until SIGTERM, then exits 0', async () => {
    const queue = open('orders', { visTimeout: 30, useDead: true });
    await queue.putData([1, 2, 3]);
    await queue.failData((await queue.getDeliveries(1)).map((d) => d.lease));
    const { child, listening, lines, exit } = await serve([], { VISQ_DASHBOARD_TOKEN: TOKEN });
    expect(listening).toMatchObject({ event: 'listening', prefix: ctx.prefix, readOnly: false });
    const url = String(listening.url);
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    expect(listening.metrics).toBe(`${url}metrics`);

    const scraped = parseScrape((await send(String(listening.metrics))).text);
    expect(scraped.value('visq_queue_items', { queue: 'orders', state: 'ready' })).toBe(2);
    expect(scraped.value('visq_queue_items', { queue: 'orders', state: 'dead' })).toBe(1);
    expect((await send(url)).text).toContain('<title>visq</title>');
    const list = (await send(`${url}api/queues`)).json<{ queues: { name: string; dead: number }[] }>();
    expect(list.queues).toMatchObject([{ name: 'orders', dead: 1 }]);
    expect((await action(`${url}api/queues/orders/redrive`)).json()).toEqual({ queue: 'orders', moved: 1 });
    expect((await queue.stats()).dead).toBe(0);
    // a loopback server answers only to loopback names
    expect((await send(`${url}api/queues`, { headers: { Host: 'attacker.example' } })).status).toBe(403);

    child.kill('SIGTERM');
    const { code, stderr } = await exit;
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(lines.at(-1)).toMatchObject({ event: 'stopped', signal: 'SIGTERM' });
  });

  it('is read-only without a token, and takes --token', async () => {
    const readOnly = await serve();
    expect(readOnly.listening.readOnly).toBe(true);
    expect((await action(`${String(readOnly.listening.url)}api/queues/q/redrive`)).status).toBe(403);
    readOnly.child.kill('SIGINT');
    expect((await readOnly.exit).code).toBe(0);

    const flagged = await serve(['--token', TOKEN]);
    expect(flagged.listening.readOnly).toBe(false);
  });

  it('shows only --queues when given', async () => {
    await open('a').putData([1]);
    await open('b').putData([1]);
    const { listening } = await serve(['--queues', 'b']);
    const list = (await send(`${String(listening.url)}api/queues`)).json<{ queues: { name: string }[] }>();
    expect(list.queues.map((q) => q.name)).toEqual(['b']);
  });

  it('answers 503 while Redis is down and recovers when it is back', async () => {
    await open('q').putData([1]);
    const { listening, child } = await serve();
    const url = String(listening.url);
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    await ctx.server.kill();
    try {
      const down = await send(`${url}api/queues`);
      expect(down.status).toBe(503);
      expect((await send(`${url}metrics`)).status).toBe(503);
    } finally {
      await ctx.server.restart();
    }
    // the data was not persisted: what matters is that the server answers again
    await expect.poll(async () => (await send(`${url}api/queues`)).status, { timeout: 10_000 }).toBe(200);
    expect(stderr).toMatch(/^visq serve: /m);
  });

  it('refuses a short token (exit 64) and an unreachable Redis (exit 2)', async () => {
    const short = await cli.run(['serve', '--token', 'short', '--redis-url', ctx.server.url]);
    expect(short.code).toBe(64);
    expect(short.stderr).toContain('Expected `--token` to be a string of 16 to 1024 characters without whitespace');
    const envShort = await cli.run(['serve', '--redis-url', ctx.server.url], { VISQ_DASHBOARD_TOKEN: 'short' });
    expect(envShort.code).toBe(64);
    expect(envShort.stderr).toContain('Expected `VISQ_DASHBOARD_TOKEN` to be');
    const port = await freePort();
    const down = await cli.run(['serve', '--port', '0', '--redis-url', `redis://127.0.0.1:${port}`]);
    expect(down.code).toBe(2);
    expect(down.stderr).toContain(`visq serve: Cannot connect to Redis at redis://127.0.0.1:${port}`);
    const badPort = await cli.run(['serve', '--port', '70000']);
    expect(badPort.code).toBe(64);
  });

  it('exits 1 when the port is taken', async () => {
    const first = await serve();
    const port = new URL(String(first.listening.url)).port;
    const second = await cli.run(['serve', '--port', port, '--redis-url', ctx.server.url]);
    expect(second.code).toBe(1);
    expect(second.stderr).toContain(`visq serve: Cannot listen on 127.0.0.1:${port}: the address is in use`);
  });

  it('prints its usage with --help', async () => {
    const help = await cli.run(['serve', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Usage: visq serve');
    expect(help.stdout).toContain('VISQ_DASHBOARD_TOKEN');
  });
});

describe.skipIf(ctx.kind !== 'redis')('visq inspect of a task queue item', () => {
  it("shows the task, its status and the runs started (attempt)", async () => {
    const app = cli.track(new Visq({ redis: ctx.redis, prefix: ctx.prefix }));
    const flaky = app.task('flaky', () => {
      throw new Error('not today');
    }, { attempts: 3, visTimeout: 30, retryDelay: 600 });
    const run = await flaky.execute([]);
    const worker = app.worker({ concurrency: 1 });
    await expect.poll(async () => (await run.record())?.attempt, { timeout: 10_000 }).toBe(1);
    await expect.poll(async () => run.status(), { timeout: 10_000 }).toBe('delayed');
    await worker.close();
    const item = (await run.record())?.item ?? '';

    const table = await cli.run(['inspect', 'default', item, '--redis-url', ctx.server.url, '--prefix', ctx.prefix]);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^state\s+delayed$/m);
    expect(table.stdout).toMatch(/^task\s+flaky$/m);
    expect(table.stdout).toMatch(new RegExp(`^taskId\\s+${run.id}$`, 'm'));
    expect(table.stdout).toMatch(/^taskStatus\s+delayed$/m);
    expect(table.stdout).toMatch(/^attempt\s+1$/m);
    expect(table.stdout).toMatch(/^lastError\s+.*not today/m);

    const json = await cli.run(['inspect', 'default', item, '--json', '--redis-url', ctx.server.url, '--prefix', ctx.prefix]);
    expect(JSON.parse(json.stdout)).toMatchObject({
      queue: 'default',
      id: item,
      state: 'delayed',
      task: { name: 'flaky', id: run.id, status: 'delayed', attempt: 1 },
    });
  });

  it('shows no task fields for a data queue item', async () => {
    const [id = ''] = await open('plain').putData([{ t: 'looks', like: 'a task?' }]);
    const json = await cli.run(['inspect', 'plain', id, '--json', '--redis-url', ctx.server.url, '--prefix', ctx.prefix]);
    expect(JSON.parse(json.stdout)).not.toHaveProperty('task');
  });
});
