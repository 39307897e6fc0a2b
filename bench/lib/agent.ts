/**
 * An agent: a child process that runs the jobs of one system at a time for the
 * orchestrator (main.ts), so that producers, consumers and workers do not share one
 * event loop. Protocol in protocol.ts: `prepare` connects and builds (untimed), `go`
 * runs the timed part and answers with a JobResult. Clients are closed after the
 * timed part.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import {
  nowNs,
  PAYLOAD,
  TASK_ARGS,
  type FromAgent,
  type Job,
  type JobResult,
  type Payload,
  type ServerAddress,
  type TaskArgs,
  type TaskProfile,
  type Target,
  type ToAgent,
} from './protocol.js';
import { drivers } from './systems/index.js';
import type { DataClient, SystemDriver, TaskClient } from './systems/types.js';

const server = JSON.parse(process.argv[2] ?? '{}') as ServerAddress;
const agentIndex = Number(process.argv[3] ?? 0);

/** Blocking reads of the latency workload give up after this long, so a lost item cannot hang the agent. */
const RECEIVE_BLOCK_MS = 1000;
/** Reads of the latency workload take what has arrived, up to this many. */
const RECEIVE_BATCH = 100;
/** Workers of the task latency workload run this many tasks at once. */
const LATENCY_CONCURRENCY = 50;

/** Closes what the current job opened, newest first. */
let closers: (() => Promise<void>)[] = [];
const prepared = new Map<number, () => Promise<JobResult>>();

interface Outcome {
  items: number;
  samplesUs?: number[];
}

function send(message: FromAgent): void {
  process.send?.(message);
}

async function timed(body: () => Promise<Outcome>): Promise<JobResult> {
  const cpu = process.cpuUsage();
  const startNs = nowNs();
  const { items, samplesUs } = await body();
  const endNs = nowNs();
  const used = process.cpuUsage(cpu);
  return { items, startNs, endNs, cpuUs: used.user + used.system, ...(samplesUs ? { samplesUs } : {}) };
}

function driver(job: Job): SystemDriver {
  return drivers[job.system];
}

async function taskClient(job: Job & { profile?: TaskProfile }): Promise<TaskClient> {
  const open = driver(job).tasks;
  if (!open) throw new Error(`${job.system} has no task layer`);
  return open(server, job.profile ?? 'defaults');
}

function dataGet(client: DataClient, system: string): NonNullable<DataClient['get']> {
  if (!client.get) throw new Error(`${system} has no batched read`);
  return client.get.bind(client);
}

/** A put of up to `batch` items in one call; the item arrays are built before the clock starts. */
async function batchPut(job: Job & { target: Target; batch: number }): Promise<(n: number) => Promise<void>> {
  if (job.target === 'data') {
    const client = await driver(job).data(server, agentIndex);
    closers.push(() => client.close());
    const full = Array<Payload>(job.batch).fill(PAYLOAD);
    if (job.kind === 'put' && job.dedupe) {
      const { putDeduped } = client;
      if (!putDeduped) throw new Error(`${job.system} has no deduplicated put`);
      return (n) => putDeduped.call(client, n === full.length ? full : full.slice(0, n));
    }
    const { groups } = job as { groups?: number };
    if (groups) {
      // each agent's items go to the groups in turn, from a different start per agent
      let next = agentIndex * ((job as { count?: number }).count ?? 0);
      return (n) => {
        const names = Array.from({ length: n }, (_, i) => `g${(next + i) % groups}`);
        next += n;
        return client.put(n === full.length ? full : full.slice(0, n), names);
      };
    }
    return (n) => client.put(n === full.length ? full : full.slice(0, n));
  }
  const client = await taskClient(job);
  closers.push(() => client.close());
  const full = Array<TaskArgs>(job.batch).fill(TASK_ARGS);
  return (n) => client.push(n === full.length ? full : full.slice(0, n));
}

async function putJob(job: Extract<Job, { kind: 'put' }>): Promise<() => Promise<JobResult>> {
  const put = await batchPut(job);
  return () =>
    timed(async () => {
      for (let done = 0; done < job.count; done += job.batch) await put(Math.min(job.batch, job.count - done));
      return { items: job.count };
    });
}

/**
 * Get + done until the queue is empty: one consumer, or `consumers` of them in this
 * process, each with its own client (connection), sharing one event loop.
 */
async function drainJob(job: Extract<Job, { kind: 'drain' }>): Promise<() => Promise<JobResult>> {
  const consumers = job.consumers ?? 1;
  const drains = await Promise.all(
    Array.from({ length: consumers }, async (_, i): Promise<() => Promise<number>> => {
      // consumers are numbered apart across agents (Streams names its consumers)
      const client = await driver(job).data(server, agentIndex * consumers + i);
      closers.push(() => client.close());
      // a push consumer (graphile-worker) drains by its own loop
      const { drain } = client;
      if (drain) return () => drain.call(client, job.batch);
      const get = dataGet(client, job.system);
      return async () => {
        let items = 0;
        for (;;) {
          const batch = await get(job.batch);
          if (batch.items.length === 0) return items;
          await batch.ack();
          items += batch.items.length;
        }
      };
    }),
  );
  return () =>
    timed(async () => {
      const counts = await Promise.all(drains.map((drain) => drain()));
      return { items: counts.reduce((sum, n) => sum + n, 0) };
    });
}

/**
 * A worker, created idle, and a promise that resolves once `count` runs finished (or
 * rejects on the first failure). `started` sees each run's arguments.
 */
async function countingWorker(
  job: Job,
  concurrency: number,
  count: number,
  started?: (args: TaskArgs) => void,
): Promise<{ start(): void; finished(): number; allDone: Promise<void> }> {
  const client = await taskClient(job);
  closers.push(() => client.close());
  let finished = 0;
  let settle: { resolve: () => void; reject: (error: Error) => void } | undefined;
  const allDone = new Promise<void>((resolve, reject) => {
    settle = { resolve, reject };
  });
  const worker = await client.worker(concurrency, {
    ...(started ? { started } : {}),
    finished() {
      finished += 1;
      if (finished === count) settle?.resolve();
    },
    failed: (error) => settle?.reject(error),
  });
  closers.push(() => worker.close());
  return { start: () => worker.start(), finished: () => finished, allDone };
}

async function processJob(job: Extract<Job, { kind: 'process' }>): Promise<() => Promise<JobResult>> {
  const worker = await countingWorker(job, job.concurrency, job.count);
  return () =>
    timed(async () => {
      worker.start();
      await worker.allDone;
      return { items: worker.finished() };
    });
}

async function stampSendJob(job: Extract<Job, { kind: 'stamp-send' }>): Promise<() => Promise<JobResult>> {
  let sendOne: () => Promise<void>;
  if (job.target === 'data') {
    const client = await driver(job).data(server, agentIndex);
    closers.push(() => client.close());
    sendOne = () => client.put([{ a: nowNs(), b: PAYLOAD.b }]);
  } else {
    const client = await taskClient(job);
    closers.push(() => client.close());
    sendOne = () => client.push([{ a: nowNs(), b: 0 }]);
  }
  const intervalNs = job.intervalMs * 1e6;
  return () =>
    timed(async () => {
      const start = nowNs();
      for (let i = 0; i < job.count; i += 1) {
        const waitMs = (start + i * intervalNs - nowNs()) / 1e6;
        if (waitMs > 0.5) await sleep(waitMs);
        await sendOne();
      }
      return { items: job.count };
    });
}

async function stampReceiveJob(job: Extract<Job, { kind: 'stamp-receive' }>): Promise<() => Promise<JobResult>> {
  const samplesUs: number[] = [];
  if (job.target === 'data') {
    const client = await driver(job).data(server, agentIndex);
    closers.push(() => client.close());
    const get = dataGet(client, job.system);
    return () =>
      timed(async () => {
        while (samplesUs.length < job.count) {
          const batch = await get(RECEIVE_BATCH, RECEIVE_BLOCK_MS);
          const now = nowNs();
          for (const item of batch.items) samplesUs.push((now - item.a) / 1000);
          await batch.ack();
        }
        return { items: samplesUs.length, samplesUs };
      });
  }
  const worker = await countingWorker(job, LATENCY_CONCURRENCY, job.count, (args) => {
    samplesUs.push((nowNs() - args.a) / 1000);
  });
  return () =>
    timed(async () => {
      worker.start();
      await worker.allDone;
      return { items: samplesUs.length, samplesUs };
    });
}

async function depthJob(job: Extract<Job, { kind: 'depth' }>): Promise<() => Promise<JobResult>> {
  const client = await driver(job).data(server, agentIndex);
  closers.push(() => client.close());
  const get = dataGet(client, job.system);
  return () =>
    timed(async () => {
      const samplesUs: number[] = [];
      for (let i = 0; i < job.calls; i += 1) {
        const started = nowNs();
        const batch = await get(job.batch);
        samplesUs.push((nowNs() - started) / 1000);
        // keep the depth: finish the items and put as many back
        await batch.ack();
        await client.put(batch.items);
      }
      return { items: job.calls * job.batch, samplesUs };
    });
}

function prepare(job: Job): Promise<() => Promise<JobResult>> {
  switch (job.kind) {
    case 'put':
      return putJob(job);
    case 'drain':
      return drainJob(job);
    case 'process':
      return processJob(job);
    case 'stamp-send':
      return stampSendJob(job);
    case 'stamp-receive':
      return stampReceiveJob(job);
    case 'depth':
      return depthJob(job);
  }
}

async function closeAll(): Promise<void> {
  const current = closers.reverse();
  closers = [];
  for (const close of current) await close();
}

function message(error: unknown): string {
  return error instanceof Error ? (error.stack ?? error.message) : String(error);
}

process.on('message', (raw) => {
  const msg = raw as ToAgent;
  if (msg.type === 'exit') {
    void closeAll().finally(() => process.exit(0));
    return;
  }
  if (msg.type === 'prepare') {
    prepare(msg.job).then(
      (run) => {
        prepared.set(msg.id, run);
        send({ type: 'ready', id: msg.id });
      },
      (error: unknown) => {
        void closeAll().finally(() => send({ type: 'error', id: msg.id, message: message(error) }));
      },
    );
    return;
  }
  const run = prepared.get(msg.id);
  prepared.delete(msg.id);
  if (!run) {
    send({ type: 'error', id: msg.id, message: `no prepared job ${msg.id}` });
    return;
  }
  run()
    .then(async (result) => {
      await closeAll();
      send({ type: 'result', id: msg.id, result });
    })
    .catch(async (error: unknown) => {
      await closeAll().catch(() => undefined);
      send({ type: 'error', id: msg.id, message: message(error) });
    });
});

send({ type: 'hello' });
