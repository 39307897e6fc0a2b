/**
 * Starts private redis-server processes for tests: a free port on 127.0.0.1, nothing
 * persisted (`--save "" --appendonly no` unless a test asks for AOF), a temporary dir.
 * Never touches a server it did not start.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';

/** A running private redis-server. */
export interface RedisServer {
  readonly port: number;
  readonly url: string;
  readonly dir: string;
  /** A new client connected to this server; closed by `stop()`. */
  client(): Redis;
  /** Stops the server (SIGTERM, then SIGKILL) and closes the clients it handed out. */
  stop(): Promise<void>;
  /** Kills the server abruptly (for crash tests); `start` it again on the same port and dir. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Starts it again after `kill`, with the same port, dir and arguments. */
  restart(): Promise<void>;
}

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** A port that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

async function ping(port: number, deadline: number): Promise<void> {
  for (;;) {
    const probe = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    probe.on('error', () => {});
    try {
      await probe.connect();
      await probe.ping();
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 20));
    } finally {
      probe.disconnect();
    }
  }
}

function launch(port: number, dir: string, extraArgs: readonly string[]): ChildProcess {
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', ...extraArgs];
  const child = spawn('redis-server', args, { stdio: 'ignore' });
  running.add(child);
  child.once('exit', () => running.delete(child));
  return child;
}

/** Stops a child with `signal`, then SIGKILL after 3 s; resolves once it has exited. */
export function stopChild(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill(signal);
  });
}

/** Starts a private redis-server; `extraArgs` override the defaults (e.g. `--appendonly yes`). */
export async function startRedisServer(extraArgs: readonly string[] = []): Promise<RedisServer> {
  const dir = mkdtempSync(join(tmpdir(), 'visq-redis-'));
  const clients = new Set<Redis>();
  for (let attempt = 0; ; attempt += 1) {
    const port = await freePort();
    let child = launch(port, dir, extraArgs);
    try {
      await ping(port, Date.now() + 5000);
    } catch (error) {
      await stopChild(child, 'SIGKILL');
      if (attempt < 3) continue; // the port was taken between the probe and the start
      throw error;
    }
    const server: RedisServer = {
      port,
      dir,
      url: `redis://127.0.0.1:${port}`,
      client() {
        const client = new Redis({ port, host: '127.0.0.1' });
        clients.add(client);
        return client;
      },
      async stop() {
        for (const client of clients) client.disconnect();
        clients.clear();
        await stopChild(child, 'SIGTERM');
        rmSync(dir, { recursive: true, force: true });
      },
      async kill(signal = 'SIGKILL') {
        await stopChild(child, signal);
      },
      async restart() {
        child = launch(port, dir, extraArgs);
        await ping(port, Date.now() + 10000);
      },
    };
    return server;
  }
}
