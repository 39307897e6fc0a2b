/**
 * The Prometheus view of the queues, through prom-client: every metric is filled by a
 * `collect()` at scrape time from one reading of the store (stats() and task metrics of
 * each queue), so a scrape reports one consistent moment and the numbers are the ones
 * every process sees (the totals are kept in Redis by the scripts, not in this process).
 *
 * prom-client has no supported way to expose a histogram computed elsewhere: a Histogram
 * is fed only by observe(), and Registry.registerMetric is typed to its four classes. The
 * task run-time histogram is therefore exposed as its three series, `_bucket{le}`, `_sum`
 * and `_count`, each a Counter (they only grow, so rate() applies), which is exactly the
 * series a Prometheus histogram has; histogram_quantile() works on them unchanged.
 */
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { Counter, Gauge, Registry } from 'prom-client';
import type { QueueStats } from '../data/options.js';
import type { TaskMetrics } from '../tasks/metrics.js';
import * as check from '../validate.js';
import { QueueSource, SOURCE_OPTION_KEYS, type QueueReading, type QueueSourceOptions } from './source.js';

/** Options of {@link createMetricsHandler}. */
export interface MetricsHandlerOptions extends QueueSourceOptions {
  /** Called with a failure to read the store (the scrape is answered 503). Default: none. */
  onError?: (error: unknown) => void;
}

type Counted = Exclude<keyof QueueStats, 'ready' | 'delayed' | 'inflight' | 'dead' | 'headAge'>;

/** The running totals of stats(), by metric name. */
const QUEUE_TOTALS: readonly (readonly [string, Counted, string])[] = [
  ['visq_queue_puts_total', 'puts', 'Items put into the queue.'],
  ['visq_queue_deliveries_total', 'deliveries', 'Deliveries: items returned by reads (a redelivery counts again).'],
  ['visq_queue_dones_total', 'dones', 'Items finished by doneData.'],
  [
    'visq_queue_lease_expiries_total',
    'expiries',
    'Leases that expired without done: each one a redelivery, a dead letter or a drop.',
  ],
  ['visq_queue_dead_lettered_total', 'deadLettered', 'Items moved to the dead-letter queue.'],
  ['visq_queue_dropped_total', 'dropped', 'Items dropped because their attempts were spent, without dead letters.'],
  ['visq_queue_ttl_expired_total', 'expired', 'Items dropped because their ttl passed before they were read.'],
  ['visq_queue_empty_reads_total', 'emptyReads', 'Reads that found nothing visible.'],
];

const ITEM_STATES = ['ready', 'delayed', 'inflight', 'dead'] as const;

const RUN_TIME_HELP = 'Run time of task runs that ended (done, failed or retried), a histogram in seconds';

type TaskCounter = readonly [name: string, help: string, value: (t: TaskMetrics) => number];

const TASK_TOTALS: readonly TaskCounter[] = [
  ['visq_task_started_total', 'Task runs started.', (t) => t.started],
  ['visq_task_done_total', 'Tasks that finished successfully.', (t) => t.done],
  ['visq_task_failed_total', 'Tasks that failed for good, their attempts spent.', (t) => t.failed],
  ['visq_task_retried_total', 'Task runs that failed and were retried.', (t) => t.retried],
];

/** The histogram's series after its buckets. */
const RUN_TIME_TOTALS: readonly TaskCounter[] = [
  ['visq_task_run_seconds_sum', `${RUN_TIME_HELP}: their total.`, (t) => t.runTime.sumSeconds],
  ['visq_task_run_seconds_count', `${RUN_TIME_HELP}: how many.`, (t) => t.runTime.count],
];

/** The `le` label of a bucket bound in seconds, as Prometheus writes it. */
function bucketLabel(le: number): string {
  return Number.isFinite(le) ? String(le) : '+Inf';
}

/**
 * A prom-client registry with every visq metric of the queues `source` reports. Each
 * scrape reads the store once: the collect() calls of one scrape start in the same tick
 * and share the reading under way.
 */
export function metricsRegistry(source: QueueSource): Registry {
  const registry = new Registry();
  let reading: Promise<QueueReading[]> | undefined;
  const readings = (): Promise<QueueReading[]> => {
    reading ??= source.readAll().finally(() => {
      reading = undefined;
    });
    return reading;
  };
  const registers = [registry];

  new Gauge({
    name: 'visq_queue_items',
    help: 'Items in the queue by state: ready (visible), delayed, inflight (under a live lease), dead (in the dead-letter queue).',
    labelNames: ['queue', 'state'] as const,
    registers,
    async collect() {
      const queues = await readings();
      this.reset();
      for (const { name, stats } of queues) {
        for (const state of ITEM_STATES) this.set({ queue: name, state }, stats[state]);
      }
    },
  });
  new Gauge({
    name: 'visq_queue_head_age_seconds',
    help: 'Seconds since the next item a read would deliver entered the queue (put, dead-lettered or redriven); 0 when nothing is ready.',
    labelNames: ['queue'] as const,
    registers,
    async collect() {
      const queues = await readings();
      this.reset();
      for (const { name, stats } of queues) this.set({ queue: name }, stats.headAge);
    },
  });
  for (const [metric, field, help] of QUEUE_TOTALS) {
    new Counter({
      name: metric,
      help,
      labelNames: ['queue'] as const,
      registers,
      async collect() {
        const queues = await readings();
        this.reset();
        for (const { name, stats } of queues) this.inc({ queue: name }, stats[field]);
      },
    });
  }
  const taskCounter = ([metric, help, value]: TaskCounter): void => {
    new Counter({
      name: metric,
      help,
      labelNames: ['queue', 'task'] as const,
      registers,
      async collect() {
        const queues = await readings();
        this.reset();
        for (const { tasks } of queues) for (const t of tasks) this.inc({ queue: t.queue, task: t.task }, value(t));
      },
    });
  };
  TASK_TOTALS.forEach(taskCounter);
  new Counter({
    name: 'visq_task_run_seconds_bucket',
    help: `${RUN_TIME_HELP}: runs that took at most le seconds.`,
    labelNames: ['queue', 'task', 'le'] as const,
    registers,
    async collect() {
      const queues = await readings();
      this.reset();
      for (const { tasks } of queues) {
        for (const t of tasks) {
          for (const { le, count } of t.runTime.buckets) this.inc({ queue: t.queue, task: t.task, le: bucketLabel(le) }, count);
        }
      }
    },
  });
  RUN_TIME_TOTALS.forEach(taskCounter);
  return registry;
}

/** Answers one scrape: the text format on success, 503 with the reason when the store fails. */
export async function serveMetrics(
  registry: Registry,
  request: IncomingMessage,
  response: ServerResponse,
  onError: ((error: unknown) => void) | undefined,
): Promise<void> {
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    response.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain; charset=utf-8' });
    response.end('Method not allowed: the metrics are read with GET\n');
    return;
  }
  let text: string;
  try {
    text = await registry.metrics();
  } catch (error) {
    onError?.(error);
    // 503 rather than a partial page: Prometheus then records the scrape as failed (up == 0)
    response.writeHead(503, { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store' });
    response.end(`visq metrics: ${error instanceof Error ? error.message : String(error)}\n`);
    return;
  }
  response.writeHead(200, { 'Content-Type': registry.contentType, 'Cache-Control': 'no-store' });
  response.end(text);
}

export function onErrorOption(value: unknown): ((error: unknown) => void) | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'function') throw check.typeError('options.onError', 'a function', value);
  return value as (error: unknown) => void;
}

/**
 * A Node request listener that answers every request with the visq metrics of `options`'
 * queues in the Prometheus text format, for your own HTTP server:
 *
 * ```ts
 * const metrics = createMetricsHandler({ redis });
 * createServer((req, res) => (req.url === '/metrics' ? metrics(req, res) : notFound(res))).listen(9464);
 * ```
 *
 * Each scrape reads every queue's stats() (a short script per queue, which also applies
 * what is due: expired leases, ended delays) and its task metrics. A store failure is
 * answered 503. See docs/observability.md for every metric.
 */
export function createMetricsHandler(options: MetricsHandlerOptions): RequestListener {
  const opts = check.options('options', options, [...SOURCE_OPTION_KEYS, 'onError']);
  const onError = onErrorOption(opts.onError);
  const registry = metricsRegistry(new QueueSource(opts));
  return (request, response) => {
    void serveMetrics(registry, request, response, onError);
  };
}
