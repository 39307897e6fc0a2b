/**
 * What the dashboard's history costs, as docs/observability.md states it:
 *
 *   node --expose-gc --import tsx scripts/history-cost.ts [queues]
 *
 * 1. Memory of the serving process: the heap that a History holds for `queues` queues
 *    (default 1000) with every ring full, one task per tenth queue; measured with the
 *    garbage collector run before and after, so it counts objects and maps as well as the
 *    typed arrays.
 * 2. Redis time per sample: on a private redis-server, the same queues (items ready and
 *    in flight, task queues with task metrics), sampled as the sampler does (every
 *    queue's stats() and task metrics, and the registry of names), with the server's
 *    own `INFO commandstats` summed over the sample rounds.
 */
import { DataQueue, Visq } from '../src/index.js';
import { History } from '../src/observe/history.js';
import { QueueSource, type QueueReading } from '../src/observe/source.js';
import { startRedisServer } from '../test/harness/redis-server.js';

const QUEUES = Number(process.argv[2] ?? 1000);
const ROUNDS = 20;
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('Run with node --expose-gc --import tsx scripts/history-cost.ts');

/** Bytes the process holds in its heap and in array buffers (the rings' typed arrays live there). */
function heap(): number {
  gc?.();
  gc?.();
  const { heapUsed, arrayBuffers } = process.memoryUsage();
  return heapUsed + arrayBuffers;
}

async function memory(): Promise<void> {
  const before = heap();
  const history = new History(5000);
  const readings = (time: number): QueueReading[] =>
    Array.from({ length: QUEUES }, (_, i) => ({
      name: `queue-${i}`,
      stats: {
        ready: time % 97, delayed: 0, inflight: 3, dead: 1, expired: 0, dropped: 0, puts: time, deliveries: time,
        dones: time, expiries: 0, deadLettered: 0, emptyReads: 0, headAge: 0.5,
      },
      tasks: i % 10 === 0
        ? [{ queue: `queue-${i}`, task: 'send', started: time, done: time, failed: 0, retried: 0,
            runTime: { count: time, sumSeconds: time / 100, buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, Infinity].map((le) => ({ le, count: time })) } }]
        : [],
    }));
  // 180 samples 5 s apart, then 180 20 s apart, then 180 8 min apart: every ring full
  // (the coarse rings take a sample once their spacing has passed)
  let time = Date.now();
  let k = 0;
  for (const spacing of [5000, 20_000, 480_000]) {
    for (let n = 0; n < 180; n += 1, k += 1) history.record((time += spacing), readings(k));
  }
  const after = heap();
  console.log(
    `memory: ${QUEUES} queues (every tenth with one task), rings full: heap +${((after - before) / 1e6).toFixed(1)} MB, ` +
      `${Math.round((after - before) / QUEUES)} bytes per queue (of which the rings' typed arrays ${Math.round(history.bytes / QUEUES)})`,
  );
}

async function redisTime(): Promise<void> {
  const server = await startRedisServer();
  const redis = server.client();
  try {
    const app = new Visq({ redis });
    const task = app.task('send', () => undefined, { visTimeout: 5 });
    for (let i = 0; i < QUEUES; i += 1) {
      const queue = new DataQueue(redis, `queue-${i}`, { visTimeout: 30 });
      await queue.putData(Array.from({ length: 20 }, (_, n) => n));
      await queue.getData(5);
      await queue.close();
    }
    // task metrics on the task queue: every other queue's read finds none, at the same cost
    for (let i = 0; i < QUEUES; i += 10) await task.execute([]);
    const worker = app.worker({ queues: ['default'] });
    await new Promise((resolve) => setTimeout(resolve, 500));
    await worker.close();
    const source = new QueueSource({ redis });
    await source.readAll();
    await redis.config('RESETSTAT');
    const started = performance.now();
    for (let round = 0; round < ROUNDS; round += 1) await source.readAll();
    const wall = (performance.now() - started) / ROUNDS;
    const stats = await redis.info('commandstats');
    let usec = 0;
    let evalsha = 0;
    for (const line of stats.split('\n')) {
      const match = /^cmdstat_([^:]+):calls=\d+,usec=(\d+)/.exec(line);
      if (!match || match[1] === 'config|resetstat') continue;
      // commands run inside a script are counted again on their own lines: count the script once
      if (match[1] === 'evalsha') evalsha = Number(match[2]);
      else if (['hgetall', 'smembers'].includes(match[1] as string)) usec += Number(match[2]);
    }
    usec += evalsha;
    console.log(
      `redis: one sample of ${QUEUES} queues = ${(usec / ROUNDS / 1000).toFixed(1)} ms of Redis time ` +
        `(${(usec / ROUNDS / QUEUES).toFixed(1)} µs per queue: stats script, task metrics, registry), ` +
        `${wall.toFixed(0)} ms wall; at the default 5 s interval ${((usec / ROUNDS / 5e6) * 100).toFixed(2)}% of one Redis core`,
    );
    await app.close();
  } finally {
    await server.stop();
  }
}

await memory();
await redisTime();
