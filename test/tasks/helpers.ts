/**
 * What the task-layer suites share: apps and workers on the file's redis-server under
 * the test's prefix, worker processes started from fixtures, and gates that hold a task
 * run until the test lets it go. Everything made here is closed or killed after each
 * test, passed or failed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach } from 'vitest';
import { taskContext, Visq, type VisqOptions, type Worker, type WorkerEvents, type WorkerOptions } from '../../src/index.js';
import type { QueueStore } from '../../src/data/backend.js';
import { resolveStore } from '../../src/data/store.js';
import type { TaskStore, TaskStoreProvider } from '../../src/tasks/task-store.js';
import type { StoreContext } from '../harness/context.js';

/** Holds task runs until the test opens it; a run given up by its worker stops waiting too. */
export class Gate {
  #open: () => void = () => undefined;
  readonly #opened = new Promise<void>((resolve) => {
    this.#open = resolve;
  });

  open(): void {
    this.#open();
  }

  /** Inside a task: waits for the gate, or rejects when the run is timed out or given up. */
  async pass(): Promise<void> {
    const signal = taskContext()?.signal;
    if (!signal) return this.#opened;
    signal.throwIfAborted();
    await new Promise<void>((resolve, reject) => {
      const abort = (): void => reject(signal.reason as Error);
      signal.addEventListener('abort', abort, { once: true });
      void this.#opened.then(() => {
        signal.removeEventListener('abort', abort);
        resolve();
      });
    });
  }
}

/** Payload of a worker event. */
export type EventPayload<K extends PayloadEvent> = WorkerEvents[K][0];

/** The worker events that carry a payload. */
type PayloadEvent = Exclude<keyof WorkerEvents, 'closed'>;

/** Adds or removes a listener of a payload event; node's EventEmitter<T> cannot check one for a generic event name. */
type Subscribe = <K extends PayloadEvent>(name: K, listener: (payload: EventPayload<K>) => void) => Worker;
const on = (worker: Worker): Subscribe => worker.on.bind(worker) as Subscribe;
const off = (worker: Worker): Subscribe => worker.off.bind(worker) as Subscribe;

/** Records every `name` event of `worker`, in order. */
export function record<K extends PayloadEvent>(
  worker: Worker,
  name: K,
): EventPayload<K>[] {
  const seen: EventPayload<K>[] = [];
  on(worker)(name, (payload) => {
    seen.push(payload);
  });
  return seen;
}

/** Resolves with the next `name` event of `worker` that `accept` takes (default: any). */
export function nextEvent<K extends PayloadEvent>(
  worker: Worker,
  name: K,
  accept: (payload: EventPayload<K>) => boolean = () => true,
): Promise<EventPayload<K>> {
  return new Promise((resolve) => {
    const listener = (payload: EventPayload<K>): void => {
      if (!accept(payload)) return;
      off(worker)(name, listener);
      resolve(payload);
    };
    on(worker)(name, listener);
  });
}

/**
 * Resolves once `condition` holds, checking every 10 ms; rejects after `seconds` with
 * `what` so a test that waits in vain says what it waited for. For state another
 * process changes (Redis counters); in-process tests wait on events instead.
 */
export async function until(what: string, condition: () => boolean | Promise<boolean>, seconds = 10): Promise<void> {
  const deadline = performance.now() + seconds * 1000;
  while (!(await condition())) {
    if (performance.now() > deadline) throw new Error(`Timed out waiting until ${what}`);
    await sleep(10);
  }
}

/** A worker running in a child process started from a fixture. */
export interface WorkerProcess {
  readonly child: ChildProcess;
  /** Everything the child wrote to stdout and stderr so far (for failure messages). */
  output(): string;
  /** Resolves with the exit code or signal once the child has exited. */
  readonly exited: Promise<number | NodeJS.Signals | null>;
  /** Asks the child to close its worker gracefully (SIGTERM) and waits for it to exit. */
  stop(): Promise<number | NodeJS.Signals | null>;
  /** Kills the child at once, as a crash would. */
  kill(): Promise<number | NodeJS.Signals | null>;
}

const FIXTURES = fileURLToPath(new URL('./fixtures/', import.meta.url));

/** Options of the apps a test makes; the prefix is the test's own. */
type AppOptions = Omit<VisqOptions, 'redis' | 'store' | 'prefix'>;

/** How many times each TaskStore method was called, by method name. */
export type CallCounts = Map<string, number>;

/** `tasks`, counting the calls of its methods in `calls`. */
function countedTaskStore(tasks: TaskStore, calls: CallCounts): TaskStore {
  return new Proxy(tasks, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property, target);
      if (typeof value !== 'function') return value;
      const method = value as (...args: unknown[]) => unknown;
      return (...args: unknown[]) => {
        calls.set(String(property), (calls.get(String(property)) ?? 0) + 1);
        return method.apply(target, args);
      };
    },
  });
}

/** `store`, whose task stores count their calls in `calls`; every other method is the store's own. */
function countedStore(store: QueueStore, calls: CallCounts): QueueStore {
  return new Proxy(store, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property, target);
      if (typeof value !== 'function') return value;
      if (property === 'taskStore') return () => countedTaskStore((target as QueueStore & TaskStoreProvider).taskStore(), calls);
      // the store's private fields need the store itself as `this`
      return (value as (...args: unknown[]) => unknown).bind(target);
    },
  });
}

export interface TaskTestContext {
  /** A Visq app on the file's store (its Redis connection, or its MemoryStore), under the test's prefix. */
  app(options?: AppOptions): Visq;
  /** A Visq app on a connection of its own, as another process would have (the same MemoryStore in memory). */
  appElsewhere(options?: AppOptions): Visq;
  /**
   * A Visq app on the file's store, as `app()` makes, whose store calls of the task layer
   * (reads, claims, settles, schedule claims...) are counted in `calls`, per TaskStore method.
   */
  countingApp(options?: AppOptions): { app: Visq; calls: CallCounts };
  /** `app.worker(options)` with a short `shutdownTimeout` so a stuck test ends quickly. */
  worker(app: Visq, options?: WorkerOptions): Worker;
  /** A gate opened at the latest when the test ends. */
  gate(): Gate;
  /**
   * Starts `fixtures/<fixture>.ts` in a child process (node --import tsx), connected to
   * the file's redis-server under the test's prefix; resolves once it printed `ready`.
   */
  spawnWorker(fixture: string, env?: Record<string, string>): Promise<WorkerProcess>;
}

export function useTaskApps(ctx: StoreContext): TaskTestContext {
  const apps: Visq[] = [];
  const gates: Gate[] = [];
  const processes: WorkerProcess[] = [];
  /** Stores made for counting apps (a RedisStore on the file's connection), closed after their apps. */
  const stores: QueueStore[] = [];

  afterEach(async () => {
    await Promise.all(processes.splice(0).map((p) => p.kill()));
    for (const gate of gates.splice(0)) gate.open();
    await Promise.all(apps.splice(0).map((app) => app.close()));
    await Promise.all(stores.splice(0).map((store) => store.close()));
  });

  const track = (app: Visq): Visq => {
    apps.push(app);
    return app;
  };

  return {
    app: (options) => track(new Visq({ store: ctx.store, prefix: ctx.prefix, ...options })),
    appElsewhere: (options) => track(new Visq({ store: ctx.elsewhere(), prefix: ctx.prefix, ...options })),
    countingApp(options) {
      const calls: CallCounts = new Map();
      const { store, owned } = resolveStore('store', ctx.store);
      if (owned) stores.push(store);
      return { app: track(new Visq({ store: countedStore(store, calls), prefix: ctx.prefix, ...options })), calls };
    },
    worker: (app, options) => app.worker({ shutdownTimeout: 0.5, ...options }),
    gate() {
      const gate = new Gate();
      gates.push(gate);
      return gate;
    },
    async spawnWorker(fixture, env = {}) {
      const child = spawn(process.execPath, ['--import', 'tsx', `${FIXTURES}${fixture}.ts`], {
        env: { ...process.env, VISQ_URL: ctx.url, VISQ_PREFIX: ctx.prefix, ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      const exited = new Promise<number | NodeJS.Signals | null>((resolve) => {
        child.once('exit', (code, signal) => resolve(signal ?? code));
      });
      const ended = (): boolean => child.exitCode !== null || child.signalCode !== null;
      const signalled = async (signal: NodeJS.Signals): Promise<number | NodeJS.Signals | null> => {
        if (!ended()) child.kill(signal);
        return exited;
      };
      const worker: WorkerProcess = {
        child,
        output: () => output,
        exited,
        stop: () => signalled('SIGTERM'),
        kill: () => signalled('SIGKILL'),
      };
      processes.push(worker);
      await new Promise<void>((resolve, reject) => {
        const read = (chunk: Buffer): void => {
          output += chunk.toString();
          if (/^ready$/m.test(output)) resolve();
        };
        child.stdout?.on('data', read);
        child.stderr?.on('data', read);
        void exited.then((how) => reject(new Error(`Fixture ${fixture} exited (${String(how)}) before it was ready:\n${output}`)));
      });
      return worker;
    },
  };
}
