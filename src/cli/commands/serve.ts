/**
 * `visq serve`: the dashboard and the Prometheus endpoint on an http.Server until SIGINT
 * or SIGTERM. Unlike the one-shot commands, its store's connections are made again when
 * lost: a Redis or PostgreSQL that goes away makes the API and /metrics answer 503 until
 * it is back.
 */
import { createServer, type Server } from 'node:http';
import { createDashboardHandler } from '../../observe/dashboard.js';
import { isLoopback, LOOPBACK_HOSTS } from '../../observe/guard.js';
import { hostArg, integerArg, parseCommandLine, positionals, queueListArg, STORE_OPTIONS, tokenArg } from '../args.js';
import { openStore } from '../store.js';
import { CliError, EXIT } from '../failures.js';
import { jsonLine, type Output } from '../output.js';
import { COMMAND_USAGE } from '../usage.js';
import { storeTarget, type Command } from './shared.js';

const DEFAULT_PORT = 9464;
const DEFAULT_HOST = '127.0.0.1';
/** The same failure is reported at most once in this long, ms: the page polls every 2 s. */
const ERROR_REPEAT_MS = 60_000;

const SERVE_OPTIONS = {
  ...STORE_OPTIONS,
  port: { type: 'string' },
  host: { type: 'string' },
  token: { type: 'string' },
  queues: { type: 'string' },
} as const;

function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException): void => {
      const reason = error.code === 'EADDRINUSE' ? 'the address is in use' : error.message;
      reject(new CliError(`Cannot listen on ${host}:${port}: ${reason}`, EXIT.failure, { cause: error }));
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      const address = server.address();
      resolve(typeof address === 'object' && address !== null ? address.port : port);
    });
  });
}

/** Prints events as text or JSON lines: `listening` and `stopped` on stdout, failures on stderr. */
function eventPrinter(io: Output, json: boolean): { event(name: string, fields: Record<string, unknown>, text: string): void; failure(error: unknown): void } {
  const reported = new Map<string, number>();
  return {
    event(name, fields, text) {
      const time = new Date().toISOString();
      io.out(json ? jsonLine({ time, event: name, ...fields }) : `${time} ${text}`);
    },
    failure(error) {
      const message = error instanceof Error ? error.message : String(error);
      const now = Date.now();
      if (now - (reported.get(message) ?? -Infinity) < ERROR_REPEAT_MS) return;
      reported.set(message, now);
      io.err(`visq serve: ${message}`);
    },
  };
}

export const serveCommand: Command = async (args, io) => {
  const { values, positionals: given } = parseCommandLine(args, SERVE_OPTIONS);
  if (values.help) {
    io.out(COMMAND_USAGE.serve);
    return EXIT.ok;
  }
  positionals(given, [], 0);
  const target = storeTarget(values);
  const port = values.port === undefined ? DEFAULT_PORT : integerArg('--port', values.port, 0, 65535);
  const host = values.host === undefined ? DEFAULT_HOST : hostArg('--host', values.host);
  const envToken = process.env.VISQ_DASHBOARD_TOKEN || undefined;
  const token =
    values.token !== undefined
      ? tokenArg('--token', values.token)
      : envToken === undefined
        ? undefined
        : tokenArg('VISQ_DASHBOARD_TOKEN', envToken);
  const queues = values.queues === undefined ? undefined : queueListArg('--queues', values.queues);
  const printer = eventPrinter(io, values.json === true);

  const opened = await openStore(target, { reconnect: true });
  try {
    const handler = createDashboardHandler({
      store: opened.store,
      prefix: target.prefix,
      ...(queues === undefined ? {} : { queues }),
      ...(token === undefined ? {} : { token }),
      // a loopback server answers only to loopback names: no DNS rebinding onto it
      ...(isLoopback(host) ? { allowedHosts: LOOPBACK_HOSTS } : {}),
      onError: (error) => printer.failure(error),
    });
    const server = createServer(handler);
    const bound = await listen(server, port, host);
    const origin = `http://${host.includes(':') ? `[${host}]` : host}:${bound}`;
    printer.event(
      'listening',
      { url: `${origin}/`, metrics: `${origin}/metrics`, prefix: target.prefix, readOnly: token === undefined },
      `visq serve: dashboard ${origin}/ metrics ${origin}/metrics, prefix ${JSON.stringify(target.prefix)}` +
        `${token === undefined ? ', read-only (no token)' : ', actions need the token'}`,
    );

    const signal = await new Promise<NodeJS.Signals>((resolve) => {
      const onSignal = (received: NodeJS.Signals): void => {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        // asked twice while closing: leave at once
        process.once('SIGINT', () => process.exit(EXIT.interrupted));
        process.once('SIGTERM', () => process.exit(EXIT.terminated));
        resolve(received);
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
    });
    // the page keeps its connection alive between polls; close() alone would wait for it
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await Promise.all([closed, handler.close()]);
    printer.event('stopped', { signal }, `visq serve: stopped on ${signal}`);
  } finally {
    await opened.close();
  }
  return EXIT.ok;
};
