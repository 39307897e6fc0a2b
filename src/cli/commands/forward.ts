/**
 * `visq forward --from <url> --to <url> --queue <name>`: moves a queue's items from one
 * Redis to another with `forward()`, at least once. Progress goes to stderr, the outcome
 * to stdout. A signal stops it after the batch under way.
 */
import type { Redis } from 'ioredis';
import { forward, type ForwardProgress, type ForwardResult } from '../../data/forward.js';
import type { QueueStats } from '../../data/options.js';
import { DataQueue } from '../../data/queue.js';
import { COMMON_OPTIONS, integerArg, parseCommandLine, positionals, prefixArg, queueArg, secondsArg } from '../args.js';
import { checkedUrl, redact, withRedis } from '../connect.js';
import { EXIT, UsageError } from '../failures.js';
import { jsonDocument, jsonLine, type Output } from '../output.js';
import { COMMAND_USAGE } from '../usage.js';
import type { Command } from './shared.js';

const FORWARD_OPTIONS = {
  ...COMMON_OPTIONS,
  from: { type: 'string' },
  to: { type: 'string' },
  queue: { type: 'string' },
  prefix: { type: 'string' },
  'to-prefix': { type: 'string' },
  dead: { type: 'boolean' },
  follow: { type: 'boolean' },
  rate: { type: 'string' },
  batch: { type: 'string' },
  'vis-timeout': { type: 'string' },
  quiet: { type: 'boolean', short: 'q' },
} as const;

/** Seconds between two progress lines. */
const PROGRESS_EVERY_SECONDS = 1;

const count = (n: number): string => n.toLocaleString('en-US');
const plural = (n: number, word: string): string => `${count(n)} ${word}${n === 1 ? '' : 's'}`;

function required(value: string | undefined, option: string): string {
  if (value === undefined) throw new UsageError(`Missing option --${option}`);
  return value;
}

/** The identity of a Redis server and database, to refuse forwarding a queue onto itself. */
async function whereIs(redis: Redis): Promise<string> {
  const runId = /^run_id:(\S+)/m.exec(await redis.info('server'))?.[1] ?? '?';
  return `${runId}/${redis.options.db ?? 0}`;
}

function progressPrinter(io: Output, json: boolean): (progress: ForwardProgress) => void {
  // the first line after a second: a rate over the first batch alone says nothing
  let printedAt = 0;
  return (p) => {
    if (p.elapsed - printedAt < PROGRESS_EVERY_SECONDS) return;
    printedAt = p.elapsed;
    const time = new Date().toISOString();
    const rate = Math.round(p.moved / Math.max(p.elapsed, 1e-3));
    if (json) {
      io.err(jsonLine({ time, event: 'progress', moved: p.moved, ready: p.ready, dead: p.dead, elapsed: p.elapsed, rate }));
    } else {
      io.err(`${time} moved ${count(p.moved)} (ready ${count(p.ready)}, dead ${count(p.dead)}), ${count(rate)} items/s`);
    }
  };
}

function summary(result: ForwardResult, left: QueueStats, queue: string, signal: NodeJS.Signals | undefined): string[] {
  const how = result.stopped === 'drained' ? 'the source has nothing visible left' : `stopped on ${signal ?? 'a signal'}`;
  const lines = [
    `Moved ${plural(result.moved, 'item')} of ${JSON.stringify(queue)} (${count(result.ready)} ready, ` +
      `${plural(result.dead, 'dead letter')}) in ${result.elapsed.toFixed(2)} s; ${how}`,
    `Left in the source: ${count(left.ready)} ready, ${count(left.delayed)} delayed, ${count(left.inflight)} in flight, ${count(left.dead)} dead`,
  ];
  if (result.stale > 0) {
    lines.push(`${plural(result.stale, 'item')} outlived the lease before done and may have been moved twice`);
  }
  return lines;
}

export const forwardCommand: Command = async (args, io) => {
  const { values, positionals: given } = parseCommandLine(args, FORWARD_OPTIONS);
  if (values.help) {
    io.out(COMMAND_USAGE.forward);
    return EXIT.ok;
  }
  positionals(given, [], 0);
  const from = checkedUrl(required(values.from, 'from <url>'), '`--from`');
  const to = checkedUrl(required(values.to, 'to <url>'), '`--to`');
  const queue = queueArg('--queue', required(values.queue, 'queue <name>'));
  const prefix = prefixArg(values.prefix);
  const toPrefix = values['to-prefix'] === undefined ? prefix : prefixArg(values['to-prefix'], '--to-prefix');
  const batch = values.batch === undefined ? 100 : integerArg('--batch', values.batch, 1, 1000);
  const rate = values.rate === undefined ? undefined : integerArg('--rate', values.rate, 1, 1_000_000_000);
  const visTimeout =
    values['vis-timeout'] === undefined ? 30 : secondsArg('--vis-timeout', values['vis-timeout'], { exclusiveMin: true });
  const sameQueueMessage = `--from and --to name the same queue: ${JSON.stringify(queue)} under the prefix ${JSON.stringify(prefix)} of one Redis`;
  if (from === to && prefix === toPrefix) throw new UsageError(sameQueueMessage);

  const stop = new AbortController();
  let stoppedBy: NodeJS.Signals | undefined;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stoppedBy !== undefined) {
      // asked twice: leave now; the batch under way comes back to the source when its lease expires
      process.exit(signal === 'SIGINT' ? EXIT.interrupted : EXIT.terminated);
    }
    stoppedBy = signal;
    if (!values.quiet) io.err(`${new Date().toISOString()} stopping on ${signal}: finishing the batch under way`);
    stop.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  try {
    const { result, left } = await withRedis(from, (sourceRedis) =>
      withRedis(to, async (targetRedis) => {
        if (prefix === toPrefix && (await whereIs(sourceRedis)) === (await whereIs(targetRedis))) {
          throw new UsageError(sameQueueMessage);
        }
        const source = new DataQueue(sourceRedis, queue, { prefix });
        const target = new DataQueue(targetRedis, queue, { prefix: toPrefix });
        try {
          if (!values.quiet) {
            io.err(`${new Date().toISOString()} forwarding ${JSON.stringify(queue)} from ${redact(from)} to ${redact(to)}` +
              `${values.dead ? ' with its dead letters' : ''}${rate === undefined ? '' : `, at most ${count(rate)} items/s`}`);
          }
          const result = await forward(source, target, {
            dead: values.dead === true,
            follow: values.follow === true,
            batch,
            visTimeout,
            signal: stop.signal,
            ...(rate === undefined ? {} : { rate }),
            ...(values.quiet ? {} : { onProgress: progressPrinter(io, values.json === true) }),
          });
          return { result, left: await source.stats() };
        } finally {
          await Promise.all([source.close(), target.close()]);
        }
      }),
    );
    if (values.json) {
      const { ready, delayed, inflight, dead } = left;
      io.out(jsonDocument({ queue, from: redact(from), to: redact(to), ...result, left: { ready, delayed, inflight, dead } }));
    } else {
      for (const line of summary(result, left, queue, stoppedBy)) io.out(line);
    }
    // a drain cut short by a signal did not finish what it was asked; --follow only ends so
    if (result.stopped === 'aborted' && !values.follow) {
      return stoppedBy === 'SIGTERM' ? EXIT.terminated : EXIT.interrupted;
    }
    return EXIT.ok;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
};
