/**
 * `visq worker --module <path>`: runs a worker for the app a module exports until a
 * signal or its lifetime stops it. The module owns the Redis client of its app, so this
 * command opens no connection of its own.
 */
import type { WorkerOptions } from '../../worker/options.js';
import { MAX_MACHINES } from '../../worker/shard.js';
import {
  COMMON_OPTIONS,
  integerArg,
  parseCommandLine,
  positionals,
  queueListArg,
  secondsArg,
  type ParsedCommandLine,
} from '../args.js';
import type { Visq } from '../../app.js';
import { ConnectionFailedError, EXIT, UsageError } from '../failures.js';
import { loadApp } from '../load-app.js';
import { COMMAND_USAGE } from '../usage.js';
import { EventPrinter } from '../worker-events.js';
import type { Command } from './shared.js';

const WORKER_OPTIONS = {
  ...COMMON_OPTIONS,
  module: { type: 'string' },
  queues: { type: 'string' },
  concurrency: { type: 'string' },
  prefetch: { type: 'string' },
  lifetime: { type: 'string' },
  'max-tasks': { type: 'string' },
  timeout: { type: 'string' },
  'shutdown-timeout': { type: 'string' },
  machine: { type: 'string' },
  of: { type: 'string' },
  quiet: { type: 'boolean', short: 'q' },
  // accepted only to say why they do not apply
  'redis-url': { type: 'string' },
  'pg-url': { type: 'string' },
  prefix: { type: 'string' },
} as const;

type WorkerValues = ParsedCommandLine<typeof WORKER_OPTIONS>['values'];

function workerOptions(values: WorkerValues): WorkerOptions {
  const options: WorkerOptions = {};
  if (values.queues !== undefined) options.queues = queueListArg('--queues', values.queues);
  if (values.concurrency !== undefined) options.concurrency = integerArg('--concurrency', values.concurrency, 1, 10_000);
  if (values.prefetch !== undefined) options.prefetch = integerArg('--prefetch', values.prefetch, 1, 100_000);
  const seconds = values.lifetime === undefined ? undefined : secondsArg('--lifetime', values.lifetime, { exclusiveMin: true });
  const tasks =
    values['max-tasks'] === undefined ? undefined : integerArg('--max-tasks', values['max-tasks'], 1, Number.MAX_SAFE_INTEGER);
  if (seconds !== undefined || tasks !== undefined) options.lifetime = { seconds, tasks };
  if (values.timeout !== undefined) options.timeout = secondsArg('--timeout', values.timeout);
  if (values['shutdown-timeout'] !== undefined) {
    options.shutdownTimeout = secondsArg('--shutdown-timeout', values['shutdown-timeout']);
  }
  if ((values.machine === undefined) !== (values.of === undefined)) {
    throw new UsageError('--machine and --of go together: --machine <n> --of <m> serves the queues of machine n of m');
  }
  if (values.machine !== undefined && values.of !== undefined) {
    const of = integerArg('--of', values.of, 1, MAX_MACHINES);
    options.shard = { machine: integerArg('--machine', values.machine, 1, of), of };
  }
  return options;
}

/**
 * Fails with exit code 2 when the app's store cannot be reached, before the worker
 * starts: the module's ioredis client would otherwise retry quietly while the worker
 * said `ready`, and fail seconds later with an error that names no server.
 */
async function checkStore(app: Visq): Promise<void> {
  // an app of an older copy of visq (see load-app.ts) has no ping: its worker reports
  // store failures as they come
  if (typeof (app as Partial<Visq>).ping !== 'function') return;
  try {
    await app.ping();
  } catch (error) {
    throw new ConnectionFailedError(error instanceof Error ? error.message : String(error), { cause: error });
  }
}

export const workerCommand: Command = async (args, io) => {
  const { values, positionals: given } = parseCommandLine(args, WORKER_OPTIONS);
  if (values.help) {
    io.out(COMMAND_USAGE.worker);
    return EXIT.ok;
  }
  positionals(given, [], 0);
  if (values['redis-url'] !== undefined) {
    throw new UsageError(
      '--redis-url does not apply: the module creates the Redis client it passes to new Visq({ redis }); read REDIS_URL there',
    );
  }
  if (values['pg-url'] !== undefined) {
    throw new UsageError(
      '--pg-url does not apply: the module creates the PostgresStore it passes to new Visq({ store }); read VISQ_PG_URL there',
    );
  }
  if (values.prefix !== undefined) {
    throw new UsageError('--prefix does not apply: the module sets it, new Visq({ redis, prefix })');
  }
  if (values.module === undefined) throw new UsageError('Missing option --module <path>');
  const options = workerOptions(values);
  const printer = new EventPrinter(io, { json: values.json === true, quiet: values.quiet === true });

  const app = await loadApp(values.module);
  try {
    await checkStore(app);
    const worker = app.worker(options);
    printer.follow(worker);
    let stoppedBy: NodeJS.Signals | undefined;
    const onSignal = (signal: NodeJS.Signals): void => {
      if (stoppedBy !== undefined) {
        // the user asked twice: leave now; leases not done come back when they expire
        process.exit(signal === 'SIGINT' ? EXIT.interrupted : EXIT.terminated);
      }
      stoppedBy = signal;
      printer.lifecycle({ event: 'stopping', signal, shutdownTimeout: worker.settings.shutdownTimeout });
      worker.close().catch((error: unknown) => io.err(`visq worker: stopping failed: ${String(error)}`));
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    printer.lifecycle({
      event: 'ready',
      queues: worker.queues,
      tasks: app.taskNames,
      concurrency: worker.settings.concurrency,
      prefetch: worker.settings.prefetch,
      ...(worker.settings.shard ? { shard: worker.settings.shard } : {}),
    });
    await worker.closed;
    printer.lifecycle({ event: 'stopped', reason: stoppedBy ? 'signal' : 'lifetime', runs: worker.finishedRuns });
  } finally {
    await app.close();
  }
  return EXIT.ok;
};
