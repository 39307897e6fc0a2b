/**
 * What `visq worker` prints: one line per event, for people (time, event, task, id,
 * queue, attempt) or as JSON Lines with `--json`. Errors go to stderr either way.
 */
import type { DeadInfo, DoneInfo, FailedInfo, RunInfo } from '../worker/events.js';
import type { Worker } from '../worker/worker.js';
import { jsonLine, type Output } from './output.js';

/** The lifecycle of the process around the worker's own events. */
export type Lifecycle =
  | {
      event: 'ready';
      queues: readonly string[];
      tasks: readonly string[];
      concurrency: number;
      prefetch: number;
      shard?: { readonly machine: number; readonly of: number };
    }
  | { event: 'stopping'; signal: string; shutdownTimeout: number }
  | { event: 'stopped'; reason: 'signal' | 'lifetime'; runs: number };

export interface EventOptions {
  readonly json: boolean;
  readonly quiet: boolean;
}

/** Prints events as `--json` and `--quiet` say. */
export class EventPrinter {
  readonly #io: Output;
  readonly #options: EventOptions;

  constructor(io: Output, options: EventOptions) {
    this.#io = io;
    this.#options = options;
  }

  /** Prints the worker's run events from now on, and reports its errors on stderr. */
  follow(worker: Worker): void {
    worker.on('error', (error) => this.#io.err(`visq worker: ${error.message}`));
    if (this.#options.quiet) return;
    worker.on('started', (info) => this.#run('started', info, {}, ''));
    worker.on('done', (info: DoneInfo) => {
      const ms = Math.round(info.ms * 100) / 100;
      this.#run('done', info, { ms }, ` in ${ms} ms`);
    });
    worker.on('failed', (info: FailedInfo) =>
      this.#run(
        'failed',
        info,
        { error: { name: info.error.name, message: info.error.message }, willRetry: info.willRetry },
        ` (${info.willRetry ? 'will retry' : 'no retry'}): ${info.error.name}: ${info.error.message}`,
      ),
    );
    worker.on('dead', (info: DeadInfo) =>
      this.#run('dead', info, { deadLettered: info.deadLettered }, info.deadLettered ? ' (dead-lettered)' : ' (dropped)'),
    );
  }

  lifecycle(record: Lifecycle): void {
    if (this.#options.quiet) return;
    if (this.#options.json) {
      this.#io.out(jsonLine({ time: new Date().toISOString(), ...record }));
      return;
    }
    switch (record.event) {
      case 'ready': {
        const { shard } = record;
        const machine = shard ? `machine ${shard.machine} of ${shard.of}, ` : '';
        const serving =
          record.queues.length > 0
            ? `serving ${record.queues.join(', ')}`
            : 'serving no queue: none of the queues belongs to this machine; idle until stopped';
        this.#line(
          'ready',
          `${serving} (${machine}concurrency ${record.concurrency}, prefetch ${record.prefetch});` +
            ` tasks: ${record.tasks.join(', ') || 'none'}`,
        );
        break;
      }
      case 'stopping':
        this.#line(
          'stopping',
          `on ${record.signal}: running tasks get up to ${record.shutdownTimeout} s; send SIGINT again to exit at once`,
        );
        break;
      case 'stopped':
        this.#line('stopped', `after ${record.runs} run${record.runs === 1 ? '' : 's'} (${record.reason})`);
        break;
    }
  }

  #run(event: string, info: RunInfo, extra: Record<string, unknown>, tail: string): void {
    if (this.#options.json) {
      this.#io.out(
        jsonLine({
          time: new Date().toISOString(),
          event,
          task: info.task,
          taskId: info.taskId,
          queue: info.queue,
          attempt: info.attempt,
          attempts: info.attempts,
          ...extra,
        }),
      );
      return;
    }
    this.#line(event, `${info.task} ${info.taskId} queue=${info.queue} attempt=${info.attempt}/${info.attempts}${tail}`);
  }

  #line(event: string, text: string): void {
    this.#io.out(`${new Date().toISOString()} ${event.padEnd(8)} ${text}`);
  }
}
