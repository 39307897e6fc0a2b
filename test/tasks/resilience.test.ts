import { afterEach, describe, expect, it } from 'vitest';
import { startRedisServer, type RedisServer } from '../harness/redis-server.js';
import { Visq } from '../../src/index.js';

/**
 * A worker resumes by itself when Redis goes away and comes back: its blocking fetch is
 * interrupted, its scripts are loaded again (a restarted Redis has none), and tasks
 * enqueued afterwards run. Each test has a server of its own, as it restarts it.
 */
describe('a worker when Redis restarts or drops its connections', () => {
  const servers: RedisServer[] = [];
  const apps: Visq[] = [];

  afterEach(async () => {
    await Promise.all(apps.splice(0).map((app) => app.close()));
    await Promise.all(servers.splice(0).map((server) => server.stop()));
  });

  async function setUp(): Promise<{ server: RedisServer; app: Visq }> {
    const server = await startRedisServer();
    servers.push(server);
    const app = new Visq({ redis: server.client(), prefix: 'resilience' });
    apps.push(app);
    return { server, app };
  }

  it('runs tasks enqueued after Redis was restarted', async () => {
    const { server, app } = await setUp();
    const echo = app.task('echo', (text: string) => text, { saveResults: 30, visTimeout: 1 });
    const worker = app.worker({ concurrency: 2 });
    // reconnecting may or may not surface errors, depending on timing: both are fine
    worker.on('error', () => undefined);

    const before = await echo.execute(['before']);
    expect(await before.wait(10)).toBe(true);

    await server.kill();
    await server.restart();

    // the restarted server is empty (no persistence here) and knows no script
    const after = await echo.execute(['after']);
    expect(await after.wait(20)).toBe(true);
    expect(await after.result()).toBe('after');
    await worker.close();
  });

  it('goes on after its connections are killed while it waits on an empty queue', async () => {
    const { server, app } = await setUp();
    const echo = app.task('echo', (text: string) => text, { saveResults: 30 });
    const worker = app.worker({ concurrency: 1 });
    worker.on('error', () => undefined);
    const first = await echo.execute(['first']);
    expect(await first.wait(10)).toBe(true);

    const admin = server.client();
    // every client but this one: the worker's blocked fetch and its other connections
    const killed = await admin.client('KILL', 'SKIPME', 'yes', 'TYPE', 'normal');
    expect(Number(killed)).toBeGreaterThan(0);

    const second = await echo.execute(['second']);
    expect(await second.wait(20)).toBe(true);
    expect(await second.result()).toBe('second');
    await worker.close();
  });
});
