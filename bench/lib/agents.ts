/**
 * The agent processes: forked once per run (each loads tsx, visq and the peers once)
 * and reused for every job. A job that fails or hangs restarts the whole pool, so no
 * half-finished job can leak connections or workers into the next measurement.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { FromAgent, Job, JobResult, ServerAddress, ToAgent } from './protocol.js';

const AGENT_MODULE = fileURLToPath(new URL('./agent.ts', import.meta.url));
/** Connecting and loading scripts never takes this long; a job that does is stuck. */
const PREPARE_TIMEOUT_MS = 60_000;

interface Waiter {
  resolve(message: FromAgent): void;
  reject(error: Error): void;
}

export class Agent {
  readonly index: number;
  readonly #child: ChildProcess;
  readonly #waiting = new Map<number, Waiter>();
  readonly #hello: Promise<void>;
  #helloWaiter: Waiter | undefined;
  #exited = false;
  #nextId = 1;

  constructor(index: number, server: ServerAddress, extraExecArgv: readonly string[]) {
    this.index = index;
    this.#hello = new Promise((resolve, reject) => {
      this.#helloWaiter = { resolve: () => resolve(), reject };
    });
    // tsx's loader arrives in process.execArgv and is inherited, so the agent runs TypeScript too
    this.#child = fork(AGENT_MODULE, [JSON.stringify(server), String(index)], {
      execArgv: [...process.execArgv, ...extraExecArgv],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.#child.on('message', (raw) => this.#receive(raw as FromAgent));
    this.#child.once('exit', (code, signal) => {
      this.#exited = true;
      const error = new Error(`agent ${index} exited (${signal ?? `code ${String(code)}`})`);
      this.#helloWaiter?.reject(error);
      for (const waiter of this.#waiting.values()) waiter.reject(error);
      this.#waiting.clear();
    });
  }

  /** Resolves once the agent has loaded its modules. */
  ready(): Promise<void> {
    return this.#hello;
  }

  /** Connects and builds what `job` needs; resolves with the id to `go` with. */
  async prepare(job: Job): Promise<number> {
    const id = this.#nextId;
    this.#nextId += 1;
    await withTimeout(this.#request({ type: 'prepare', id, job }), PREPARE_TIMEOUT_MS, `agent ${this.index}: prepare ${job.kind}`);
    return id;
  }

  /** Runs the timed part of a prepared job. */
  async go(id: number): Promise<JobResult> {
    const reply = await this.#request({ type: 'go', id });
    if (reply.type !== 'result') throw new Error(`agent ${this.index}: unexpected ${reply.type}`);
    return reply.result;
  }

  async stop(): Promise<void> {
    if (this.#exited) return;
    const exited = new Promise<void>((resolve) => this.#child.once('exit', () => resolve()));
    const killer = setTimeout(() => this.#child.kill('SIGKILL'), 5000);
    this.#child.send({ type: 'exit' } satisfies ToAgent);
    await exited;
    clearTimeout(killer);
  }

  kill(): void {
    if (!this.#exited) this.#child.kill('SIGKILL');
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  #request(message: Extract<ToAgent, { id: number }>): Promise<FromAgent> {
    if (this.#exited) return Promise.reject(new Error(`agent ${this.index} is not running`));
    return new Promise((resolve, reject) => {
      this.#waiting.set(message.id, { resolve, reject });
      this.#child.send(message);
    });
  }

  #receive(message: FromAgent): void {
    if (message.type === 'hello') {
      this.#helloWaiter?.resolve(message);
      return;
    }
    const waiter = this.#waiting.get(message.id);
    if (!waiter) return;
    this.#waiting.delete(message.id);
    if (message.type === 'error') waiter.reject(new Error(`agent ${this.index}: ${message.message}`));
    else waiter.resolve(message);
  }
}

export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms / 1000} s`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** A fixed number of agents; `restart()` replaces them all. */
export class AgentPool {
  #agents: Agent[] = [];
  readonly #size: number;
  readonly #server: ServerAddress;
  readonly #execArgv: readonly string[];
  #onStart: ((agents: readonly Agent[]) => void) | undefined;

  constructor(size: number, server: ServerAddress, execArgv: readonly string[]) {
    this.#size = size;
    this.#server = server;
    this.#execArgv = execArgv;
  }

  get size(): number {
    return this.#size;
  }

  agent(index: number): Agent {
    const agent = this.#agents[index];
    if (!agent) throw new Error(`no agent ${index} (the pool has ${this.#agents.length})`);
    return agent;
  }

  async start(): Promise<void> {
    this.#agents = Array.from({ length: this.#size }, (_, i) => new Agent(i, this.#server, this.#execArgv));
    await Promise.all(this.#agents.map((agent) => agent.ready()));
    this.#onStart?.(this.#agents);
  }

  /** Called with the new agents after every start (to pin them to CPUs, for instance). */
  onStart(callback: (agents: readonly Agent[]) => void): void {
    this.#onStart = callback;
  }

  async restart(): Promise<void> {
    for (const agent of this.#agents) agent.kill();
    await this.start();
  }

  async stop(): Promise<void> {
    await Promise.all(this.#agents.map((agent) => agent.stop()));
  }

  kill(): void {
    for (const agent of this.#agents) agent.kill();
  }
}
