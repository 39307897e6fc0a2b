/**
 * The child processes of a chaos run: one slot per consumer or worker, each holding one
 * process at a time. A killed slot is started again as a new generation with a ledger
 * file of its own. Every child is killed when this process exits, however it exits.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { envFor, type FixtureEnv } from './settings.js';

const FIXTURES = fileURLToPath(new URL('./fixtures/', import.meta.url));

const children = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

export type FixtureName = 'data-consumer' | 'task-worker';

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** A slot that runs one fixture process at a time. */
export class FixtureSlot {
  readonly name: string;
  readonly #fixture: FixtureName;
  readonly #env: Omit<FixtureEnv, 'name' | 'seed'>;
  readonly #seed: number;
  #generation = -1;
  #child: ChildProcess | undefined;
  /** The start under way, so that a kill never races a start and orphans a process. */
  #starting: Promise<void> | undefined;
  #output = '';

  constructor(name: string, fixture: FixtureName, env: Omit<FixtureEnv, 'name' | 'seed'>, seed: number) {
    this.name = name;
    this.#fixture = fixture;
    this.#env = env;
    this.#seed = seed;
  }

  /** The ledger name of the current process: `<slot>.<generation>`. */
  get current(): string {
    return `${this.name}.${this.#generation}`;
  }

  /** The last few KB the processes of this slot printed, for failure messages. */
  get output(): string {
    return this.#output;
  }

  /** Starts the next generation; resolves once it printed `ready`. */
  start(): Promise<void> {
    const starting = this.#spawn();
    this.#starting = starting;
    return starting;
  }

  /** Starts the next generation after `delayMs`. */
  startLater(delayMs: number): Promise<void> {
    const starting = new Promise<void>((resolve) => setTimeout(resolve, delayMs)).then(() => this.#spawn());
    this.#starting = starting;
    return starting;
  }

  #spawn(): Promise<void> {
    this.#generation += 1;
    const fixture: FixtureEnv = { ...this.#env, name: this.current, seed: this.#seed * 1000 + this.#generation };
    const env: NodeJS.ProcessEnv = { ...process.env, ...envFor(fixture) };
    // the test runner's loader flags are not the fixture's
    delete env.NODE_OPTIONS;
    const child = spawn(process.execPath, ['--import', 'tsx', `${FIXTURES}${this.#fixture}.ts`], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.add(child);
    child.once('exit', () => children.delete(child));
    this.#child = child;
    return new Promise((resolve, reject) => {
      let ready = false;
      const read = (chunk: Buffer): void => {
        this.#output = (this.#output + chunk.toString()).slice(-4000);
        if (!ready && /^ready$/m.test(this.#output)) {
          ready = true;
          resolve();
        }
      };
      child.stdout?.on('data', read);
      child.stderr?.on('data', read);
      child.once('exit', (code, signal) => {
        if (!ready) reject(new Error(`${this.current} exited (${signal ?? code}) before it was ready:\n${this.#output}`));
      });
    });
  }

  /** Sends `signal` to the current process (once it has started). */
  async signal(signal: NodeJS.Signals): Promise<void> {
    await this.#starting?.catch(() => undefined);
    this.#child?.kill(signal);
  }

  /** Whether the current process exits (by itself) within `ms`. */
  async exitsWithin(ms: number): Promise<boolean> {
    const child = this.#child;
    if (!child) return true;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), ms);
    });
    const result = await Promise.race([exited(child).then(() => true), timedOut]);
    clearTimeout(timer);
    return result;
  }

  /** SIGKILL, as a crash: leases it holds are left to expire. */
  async kill(): Promise<void> {
    await this.#starting?.catch(() => undefined);
    const child = this.#child;
    if (!child) return;
    child.kill('SIGKILL');
    await exited(child);
  }

  /** SIGTERM, then SIGKILL if it has not exited within `graceMs`. Resolves with its exit code. */
  async stop(graceMs = 10_000): Promise<number | null> {
    await this.#starting?.catch(() => undefined);
    const child = this.#child;
    if (!child) return null;
    if (child.exitCode === null && child.signalCode === null) {
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      child.kill('SIGTERM');
      await exited(child);
      clearTimeout(timer);
    }
    return child.exitCode;
  }
}
