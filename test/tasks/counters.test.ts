/**
 * The counters of task queues against a ledger of what happened. Each path a task can
 * take runs on a queue of its own — done at once, done after a retry, failed for good
 * with and without dead letters, at most once (retried, and failed into dead letters),
 * cancelled before it ran, and (on Redis, with a worker process) run by a worker that was
 * killed — and every counter of its queue (stats() and /metrics) and of its tasks
 * (taskMetrics() and /metrics) is compared with the numbers the path implies:
 *
 * - puts: tasks enqueued (a retry is the same item again, not a new one);
 * - deliveries: claims of an item, one per run and one per delivery discarded or failed
 *   without a run;
 * - dones: items finished (a run done, a cancelled task's item discarded);
 * - expiries: leases of a killed worker that ran out;
 * - deadLettered / dropped: tasks failed for good, with and without dead letters;
 * - per task: runs started, tasks done, tasks failed for good, runs failed and retried.
 *
 * Issue 22 (new user, 1 and 9): a task's dead letter used to be a put into the
 * dead-letter queue, so `deadLettered` stayed 0 beside a DEAD count of 55 (and the alert
 * of docs/observability.md never fired); an at-most-once task's retry was a new item, so
 * a queue showed "items put 23" beside "items done 25".
 */
import { describe, expect, it } from 'vitest';
import { createMetricsHandler, taskContext, type EnqueuedTask, type TaskMetrics, type Visq } from '../../src/index.js';
import { useStore } from '../harness/context.js';
import { parseScrape, send, useServers } from '../observe/helpers.js';
import { until, useTaskApps } from './helpers.js';

const ctx = useStore();
const t = useTaskApps(ctx);
const serve = useServers();

/** A queue's counters: its counts now and its running totals. */
interface QueueCounters {
  ready: number;
  inflight: number;
  dead: number;
  puts: number;
  deliveries: number;
  dones: number;
  expiries: number;
  deadLettered: number;
  dropped: number;
}

/** A task's counters: [started, done, failed, retried]. */
type TaskCounters = [number, number, number, number];

/** What one path leaves on its queue. */
interface Expected {
  readonly queue: QueueCounters;
  readonly tasks: Record<string, TaskCounters>;
}

/** A queue's counters, all zero but those given. */
function queueCounters(counts: Partial<QueueCounters>): QueueCounters {
  return { ready: 0, inflight: 0, dead: 0, puts: 0, deliveries: 0, dones: 0, expiries: 0, deadLettered: 0, dropped: 0, ...counts };
}

const QUEUE_METRICS: Record<keyof QueueCounters, [string, Record<string, string>?]> = {
  ready: ['visq_queue_items', { state: 'ready' }],
  inflight: ['visq_queue_items', { state: 'inflight' }],
  dead: ['visq_queue_items', { state: 'dead' }],
  puts: ['visq_queue_puts_total'],
  deliveries: ['visq_queue_deliveries_total'],
  dones: ['visq_queue_dones_total'],
  expiries: ['visq_queue_lease_expiries_total'],
  deadLettered: ['visq_queue_dead_lettered_total'],
  dropped: ['visq_queue_dropped_total'],
};

const TASK_METRICS = ['visq_task_started_total', 'visq_task_done_total', 'visq_task_failed_total', 'visq_task_retried_total'] as const;

function taskCounters(metrics: readonly TaskMetrics[]): Record<string, TaskCounters> {
  return Object.fromEntries(metrics.map((m) => [m.task, [m.started, m.done, m.failed, m.retried]]));
}

/** Every counter of `queue`, as stats() and taskMetrics() read them, and as /metrics shows them. */
async function countersOf(app: Visq, queue: string, scrape: ReturnType<typeof parseScrape>): Promise<Record<string, unknown>> {
  const stats = await app.queue(queue).stats();
  const read = queueCounters({});
  const scraped = queueCounters({});
  for (const [field, [metric, labels]] of Object.entries(QUEUE_METRICS) as [keyof QueueCounters, [string, Record<string, string>?]][]) {
    read[field] = stats[field];
    scraped[field] = scrape.value(metric, { queue, ...labels }) ?? Number.NaN;
  }
  const tasks = taskCounters(await app.taskMetrics(queue));
  const scrapedTasks = Object.fromEntries(
    Object.keys(tasks).map((task) => [task, TASK_METRICS.map((metric) => scrape.value(metric, { queue, task }) ?? Number.NaN)]),
  );
  return { stats: read, metrics: scraped, tasks, scrapedTasks };
}

describe('the counters of a task queue', () => {
  it('agree with a ledger of what happened, for every path a task takes', async () => {
    const app = t.app();
    const expected = new Map<string, Expected>();
    const finished: EnqueuedTask<unknown>[] = [];
    const fail = (message: string) => (): never => {
      throw new Error(message);
    };
    // fails its first run, succeeds its second
    const failFirst = (): string => {
      if (taskContext()?.attempt === 1) throw new Error('not yet');
      return 'ok';
    };

    // done at once
    const ok = app.task('ok', () => 'ok', { queue: 'success', visTimeout: 5 });
    finished.push(await ok.execute([]));
    expected.set('success', { queue: queueCounters({ puts: 1, deliveries: 1, dones: 1 }), tasks: { ok: [1, 1, 0, 0] } });

    // done after a retry: the same item, delivered again
    const flaky = app.task('flaky', failFirst, { queue: 'retry', visTimeout: 5, attempts: 2 });
    finished.push(await flaky.execute([]));
    expected.set('retry', { queue: queueCounters({ puts: 1, deliveries: 2, dones: 1 }), tasks: { flaky: [2, 1, 0, 1] } });

    // failed for good after two runs, into the dead letters
    const doomed = app.task('doomed', fail('never'), { queue: 'dead', visTimeout: 5, attempts: 2, useDead: true });
    finished.push(await doomed.execute([]));
    expected.set('dead', {
      queue: queueCounters({ dead: 1, puts: 1, deliveries: 2, deadLettered: 1 }),
      tasks: { doomed: [2, 0, 1, 1] },
    });

    // failed for good without dead letters: dropped
    const dropped = app.task('dropped', fail('never'), { queue: 'drop', visTimeout: 5, attempts: 1 });
    finished.push(await dropped.execute([]));
    expected.set('drop', { queue: queueCounters({ puts: 1, deliveries: 1, dropped: 1 }), tasks: { dropped: [1, 0, 1, 0] } });

    // at most once: retried (the same item, not a new one), and failed into the dead letters
    const onceFlaky = app.task('once-flaky', failFirst, { queue: 'once', attempts: 2 });
    const onceDead = app.task('once-dead', fail('never'), { queue: 'once', attempts: 1, useDead: true });
    finished.push(await onceFlaky.execute([]), await onceDead.execute([]));
    expected.set('once', {
      queue: queueCounters({ dead: 1, puts: 2, deliveries: 3, dones: 1, deadLettered: 1 }),
      tasks: { 'once-flaky': [2, 1, 0, 1], 'once-dead': [1, 0, 1, 0] },
    });

    // cancelled before it ran: its item is discarded unrun by the claim that finds it
    const cancelled = app.task('cancelled', () => 'never runs', { queue: 'cancel', visTimeout: 5 });
    expect(await (await cancelled.execute([])).cancel()).toBe(true);
    expected.set('cancel', { queue: queueCounters({ puts: 1, deliveries: 1, dones: 1 }), tasks: {} });

    // worker processes reach the store over the network: Redis only
    if (ctx.kind === 'redis') {
      // run by a worker that is killed: one run is tried again, the other was the last allowed
      const hang = app.task('hang', () => 'finished here', { visTimeout: 1, attempts: 2 });
      const hangLast = app.task('hang-last', () => 'never runs here', { visTimeout: 1, attempts: 1, useDead: true });
      const crashed = [await hang.execute([]), await hangLast.execute([])];
      const doomedWorker = await t.spawnWorker('crash-worker');
      await until('both tasks run in the worker process', async () => {
        const runs = await Promise.all(['hang', 'hang-last'].map((task) => ctx.redis.get(`${ctx.prefix}:runs:${task}`)));
        return runs.every((n) => Number(n) > 0);
      });
      await doomedWorker.kill();
      finished.push(...crashed);
      expected.set('default', {
        queue: queueCounters({ dead: 1, puts: 2, deliveries: 4, dones: 1, expiries: 2, deadLettered: 1 }),
        tasks: { hang: [2, 1, 0, 0], 'hang-last': [1, 0, 1, 0] },
      });
    }

    const queues = [...expected.keys()];
    const worker = t.worker(app, { queues });
    for (const et of finished) expect(await et.wait(10)).toBe(true);
    await until('every queue is settled', async () => {
      const stats = await Promise.all(queues.map((queue) => app.queue(queue).stats()));
      return stats.every((s) => s.ready + s.inflight + s.delayed === 0);
    });
    await worker.close();

    const { origin } = await serve(createMetricsHandler({ store: ctx.store, prefix: ctx.prefix, queues }));
    const scrape = parseScrape((await send(`${origin}/metrics`)).text);
    const seen: Record<string, unknown> = {};
    const wanted: Record<string, unknown> = {};
    for (const [queue, { queue: counts, tasks }] of expected) {
      seen[queue] = await countersOf(app, queue, scrape);
      wanted[queue] = { stats: counts, metrics: counts, tasks, scrapedTasks: tasks };
    }
    expect(seen).toEqual(wanted);
  });
});
