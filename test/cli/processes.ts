/**
 * The `visq` bin as real processes (`node --import tsx src/cli/main.ts ...`) for the CLI
 * suites: spawned with the file's store (REDIS_URL, or VISQ_PG_URL on PostgreSQL) and the
 * test's prefix in the environment, and killed after the test, passed or failed, with the
 * queues and apps the test opened.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach } from 'vitest';
import { DataQueue, type DataQueueOptions } from '../../src/index.js';
import type { StoreContext } from '../harness/context.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MAIN = 'src/cli/main.ts';

export interface Finished {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Collects a child's output until it exits. */
export function finished(child: ChildProcess): Promise<Finished> {
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

export interface CliContext {
  /** Starts `visq ...args`; REDIS_URL (VISQ_PG_URL) and VISQ_PREFIX are this file's store and this test's prefix. */
  start(args: readonly string[], env?: NodeJS.ProcessEnv): ChildProcess;
  /** Runs `visq ...args` to its end. */
  run(args: readonly string[], env?: NodeJS.ProcessEnv): Promise<Finished>;
  /** Opens a queue under the test's prefix, closed after the test. */
  open<T = unknown>(name: string, options?: DataQueueOptions): DataQueue<T>;
  /** Closes `closeable` (an app, a queue) after the test. */
  track<C extends { close(): Promise<void> }>(closeable: C): C;
}

export function useCli(ctx: StoreContext): CliContext {
  const running = new Set<ChildProcess>();
  const opened: { close(): Promise<void> }[] = [];
  afterEach(async () => {
    for (const child of running) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    running.clear();
    await Promise.all(opened.splice(0).map((o) => o.close()));
  });
  const track = <C extends { close(): Promise<void> }>(closeable: C): C => {
    opened.push(closeable);
    return closeable;
  };
  const start = (args: readonly string[], env: NodeJS.ProcessEnv = {}): ChildProcess => {
    // the file's store, as the one store named in the environment (a runner's own
    // VISQ_PG_URL, the address of a test server, is not the CLI's)
    const store = ctx.kind === 'postgres' ? { VISQ_PG_URL: ctx.url } : { REDIS_URL: ctx.url };
    const childEnv: NodeJS.ProcessEnv = { ...process.env, VISQ_PREFIX: ctx.prefix, ...store, ...env };
    if (ctx.kind !== 'postgres' && !('VISQ_PG_URL' in env)) delete childEnv.VISQ_PG_URL;
    if (ctx.kind === 'postgres' && !('REDIS_URL' in env)) delete childEnv.REDIS_URL;
    // the test runner's loader flags are not the CLI's, nor is a dashboard token of the runner's environment
    delete childEnv.NODE_OPTIONS;
    if (!('VISQ_DASHBOARD_TOKEN' in env)) delete childEnv.VISQ_DASHBOARD_TOKEN;
    const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], {
      cwd: ROOT,
      env: childEnv,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    running.add(child);
    return child;
  };
  return {
    start,
    run: (args, env) => finished(start(args, env)),
    open: <T = unknown>(name: string, options: DataQueueOptions = {}) =>
      track(new DataQueue<T>(ctx.store, name, { prefix: ctx.prefix, ...options })),
    track,
  };
}
