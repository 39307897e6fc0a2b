/**
 * One chaos run. A private server (servers.ts): a redis-server with AOF (`appendfsync
 * everysec`) and `noeviction`, or a PostgreSQL; data consumer and task worker processes;
 * a producer in this process that puts items and executes tasks over the run's window
 * (on Redis some of its executes are sent twice, as ioredis resends a command after a
 * reconnect; the workers send some of their claims and settles twice too). Meanwhile, one
 * disruption at a time: consumers and workers SIGKILLed while they hold leases (and
 * started again), workers killing themselves around the settle of a failed run, and the
 * server's own: on Redis, restarts from its AOF after SIGTERM or SIGKILL, the script cache
 * flushed, every client connection dropped with CLIENT KILL (blocked reads, puts and
 * dones in flight), and Redis made full (`maxmemory`) for a moment; on PostgreSQL, every
 * client connection terminated (pg_terminate_backend), clean restarts and crashes. Slot 0
 * of the consumers and of the workers is never killed: it has to come back from every
 * disruption by itself.
 *
 * Disruptions stop at 75% of the window while the producer goes on to its end, so that
 * the survivors have work after the last one. Then the run waits until both queues hold
 * nothing, stops the processes, drains the dead letters and checks the ledger
 * (verify.ts) and the metric counters against it (counters.ts). Nothing here asserts a
 * duration. The pieces: producer.ts, disruptions.ts, processes.ts (and fixtures/),
 * ledger.ts, verify.ts, counters.ts, report.ts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { DataQueue, Visq, type TaskMessage, type TaskRecord } from '../../src/index.js';
import { verifyCounters } from './counters.js';
import { Disruptor, plan } from './disruptions.js';
import { readLedger, type ChaosItem, type LedgerLine } from './ledger.js';
import { FixtureSlot } from './processes.js';
import { Producer } from './producer.js';
import type { ChaosReport } from './report.js';
import { resending, type Resending } from './resend.js';
import { startChaosServer, type ChaosStoreKind } from './servers.js';
import { DATA, random, TASKS } from './settings.js';
import { registerChaosTasks } from './tasks.js';
import { verifyData, verifyTasks } from './verify.js';

export interface ChaosOptions {
  /** The store under test. Default 'redis'. */
  readonly store?: ChaosStoreKind;
  /** Data items to put. */
  readonly items: number;
  /** Tasks to execute. */
  readonly tasks: number;
  /** Length of the window over which items are put and disruptions happen. */
  readonly seconds: number;
  /** Data consumer processes (at least 2: slot 0 is never killed). */
  readonly consumers: number;
  /** Task worker processes (at least 2: slot 0 is never killed). */
  readonly workers: number;
  readonly seed: number;
  /** Keep the ledger files (their directory is printed) instead of deleting them. */
  readonly keepLedger?: boolean;
  /** Progress lines. */
  readonly log?: (line: string) => void;
}

/** Work put after the disruptions, when only the never-killed processes are left to take it. */
const PROBE = { items: 20, tasks: 4 } as const;

/** Drains a queue read at-most-once (a dead-letter queue), 1000 at a time. */
async function drain<T>(queue: DataQueue<T>): Promise<Map<string, T>> {
  const all = new Map<string, T>();
  for (;;) {
    const batch = await queue.getData(1000);
    if (batch.size === 0) return all;
    for (const [id, item] of batch) all.set(id, item);
  }
}

export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  const log = options.log ?? (() => undefined);
  const next = random(options.seed);
  const ledgerDir = mkdtempSync(join(tmpdir(), 'visq-chaos-'));
  const server = await startChaosServer(options.store ?? 'redis');
  const producerStore = server.store();
  const env = { store: server.kind, url: server.url, ledgerDir };
  const consumers = Array.from(
    { length: options.consumers },
    (_, i) => new FixtureSlot(`consumer${i}`, 'data-consumer', env, options.seed + i),
  );
  const workers = Array.from(
    { length: options.workers },
    (_, i) => new FixtureSlot(`worker${i}`, 'task-worker', env, options.seed + 100 + i),
  );
  const queue = new DataQueue<ChaosItem>(producerStore, DATA.queue, {
    prefix: DATA.prefix,
    visTimeout: DATA.visTimeout,
    attempts: DATA.attempts,
    useDead: true,
  });
  // on Redis some executes are sent twice: each must still put its task once
  const resendChance = random(options.seed + 7);
  const producerTwice: Resending | undefined =
    server.kind === 'redis'
      ? resending(producerStore as Redis, (script) => script === 'tasks/enqueue' && resendChance() < 0.2)
      : undefined;
  const app = new Visq({ store: producerTwice?.redis ?? producerStore, prefix: TASKS.prefix });
  let producer: Producer | undefined;
  // poison tasks at once: runs that fail soon, for a worker armed to die around one's settle
  const disruptor = new Disruptor(server, { consumers, workers }, next, async () => producer?.failing(4));
  const violations: string[] = [];
  try {
    await Promise.all([...consumers, ...workers].map((slot) => slot.start()));
    log(`chaos: ${server.kind} at ${server.url}, seed ${options.seed}, ledger ${ledgerDir}`);
    producer = new Producer(queue, registerChaosTasks(app), next);
    const windowMs = options.seconds * 1000;
    const started = performance.now();
    const producing = producer.run(options.items, options.tasks, windowMs);

    const { next: nextDisruption, required } = plan(next, server);
    const lastAt = windowMs * 0.75;
    // room for every required disruption and about as much time again for their own length
    const gapMs = Math.min(1500, lastAt / (2 * required));
    for (let count = 0; count < required || performance.now() - started < lastAt; count += 1) {
      await sleep(gapMs * (0.6 + 0.8 * next()));
      const what = nextDisruption();
      log(`chaos: ${Date.now()} ${what}`);
      await disruptor.run(what);
    }
    await producing;
    violations.push(...(await disruptor.restarted()));
    log(`chaos: produced ${producer.put.size} items and ${producer.executed.size} tasks; settling`);

    const tasksQueue = app.queue(TASKS.queue);
    const settleSeconds = Math.max(60, options.seconds);
    const stop = async (slots: readonly FixtureSlot[]): Promise<void> => {
      for (const slot of slots) {
        const code = await slot.stop();
        if (code !== 0) violations.push(`${slot.current} did not stop cleanly (exit ${code}):\n${slot.output}`);
      }
    };
    // the never-killed slot 0s are left alone with the last work: they must take it, so
    // they came back from every disruption by themselves
    await stop([...consumers.slice(1), ...workers.slice(1)]);
    const probedAt = Date.now();
    await producer.probe(PROBE.items, PROBE.tasks);
    const left = await settle([queue, tasksQueue], settleSeconds);
    if (left) violations.push(`the queues did not settle within ${settleSeconds} s: ${left}`);
    await disruptor.finish();
    await stop([consumers[0], workers[0]].filter((slot) => slot !== undefined));

    // before the drain below, whose reads of the dead letters count as deliveries there
    const [dataStats, taskStats, taskMetrics] = await Promise.all([
      queue.stats(),
      tasksQueue.stats(),
      app.taskMetrics(TASKS.queue),
    ]);
    const lines = readLedger(ledgerDir);
    const deadItems = await drain(queue.dead);
    const deadTasks = new Map<string, string>();
    // a task's item id is its task id
    for (const [taskId, message] of await drain<TaskMessage>(tasksQueue.dead)) {
      deadTasks.set(taskId, String(message.a[0]));
    }
    const records = new Map<string, TaskRecord | undefined>();
    for (const taskId of producer.executed.keys()) {
      records.set(taskId, await app.enqueuedTask(taskId, { queue: TASKS.queue }).record());
    }
    const data = verifyData(lines, {
      attempts: DATA.attempts,
      put: producer.put,
      refusedKeys: producer.refused,
      uncertainKeys: producer.uncertain,
      poisonKeys: producer.poison,
      dead: deadItems,
    });
    const tasks = verifyTasks(lines, {
      attempts: TASKS.attempts,
      executed: producer.executed,
      refusedKeys: producer.tasksRefused,
      uncertainKeys: producer.tasksUncertain,
      records,
      dead: deadTasks,
    });
    const counters = verifyCounters({
      data: dataStats,
      tasks: taskStats,
      taskMetrics,
      dataVerdict: data,
      taskVerdict: tasks,
      records,
    });
    violations.push(...data.violations, ...tasks.violations, ...counters.violations, ...resumed(lines, probedAt));
    const figures = disruptor.figures;
    figures.resentEnqueues = producerTwice?.resent.get('tasks/enqueue') ?? 0;
    for (const line of lines) {
      if (line.e === 'resent' && line.script === 'tasks/claim') figures.resentClaims += 1;
      if (line.e === 'resent' && line.script === 'tasks/settle') figures.resentSettles += 1;
      if (line.e === 'die') {
        figures.failureKills += 1;
        if (line.last) figures.finalFailureKills += 1;
      }
    }
    return {
      options,
      figures,
      data,
      tasks,
      counters: counters.figures,
      survivedErrors: survived(lines),
      violations,
    };
  } finally {
    await disruptor.restarted();
    await Promise.all([...consumers, ...workers].map((slot) => slot.kill()));
    await queue.close();
    await app.close();
    await server.stop();
    if (options.keepLedger) log(`chaos: ledger kept in ${ledgerDir}`);
    else rmSync(ledgerDir, { recursive: true, force: true });
  }
}

/**
 * Waits until none of `queues` holds anything ready, delayed or in flight (stats runs the
 * expiries first). Resolves `undefined`, or what was left when `seconds` ran out.
 */
async function settle(queues: readonly DataQueue<unknown>[], seconds: number): Promise<string | undefined> {
  const deadline = performance.now() + seconds * 1000;
  let left = '';
  while (performance.now() < deadline) {
    try {
      const stats = await Promise.all(queues.map((q) => q.stats()));
      if (stats.every((s) => s.ready + s.delayed + s.inflight === 0)) return undefined;
      left = JSON.stringify(stats);
    } catch (error) {
      left = String(error);
    }
    await sleep(200);
  }
  return left;
}

/** The never-killed slot 0s, alone after the disruptions, must have taken the probe work. */
function resumed(lines: readonly LedgerLine[], after: number): string[] {
  const problems: string[] = [];
  const consumerBack = lines.some((l) => l.e === 'done' && l.r === 1 && l.p === 'consumer0.0' && l.t >= after);
  const workerBack = lines.some((l) => l.e === 'run' && l.p === 'worker0.0' && l.t >= after);
  if (!consumerBack) problems.push('consumer0 (never killed) finished none of the items put after the disruptions');
  if (!workerBack) problems.push('worker0 (never killed) ran none of the tasks executed after the disruptions');
  return problems;
}

function survived(lines: readonly LedgerLine[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const line of lines) if (line.e === 'error') counts[line.name] = (counts[line.name] ?? 0) + 1;
  return counts;
}
