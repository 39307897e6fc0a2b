/**
 * The dashboard as one Node request listener: the page (`/`, its scripts and stylesheet,
 * static files shipped in ./static), the JSON API under `/api/`, and `/metrics`. `visq
 * serve` puts it in an http.Server; it mounts in a user's own server the same way. It
 * also samples the queues on an interval for the charts (see history.ts) until closed.
 */
import { readFileSync } from 'node:fs';
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { StoreError } from '../errors.js';
import * as check from '../validate.js';
import { Api } from './api.js';
import { Guard, tokenOption } from './guard.js';
import { History } from './history.js';
import { COMMON_HEADERS, HttpError, sendJson } from './http.js';
import { metricsRegistry, onErrorOption, serveMetrics, type MetricsHandlerOptions } from './metrics.js';
import { Sampler } from './sampler.js';
import { QueueSource, SOURCE_OPTION_KEYS } from './source.js';

/** Options of {@link createDashboardHandler}. */
export interface DashboardOptions extends MetricsHandlerOptions {
  /**
   * Enables the actions (redrive, purge dead letters): POSTs must carry `Authorization:
   * Bearer <token>`. 16 to 1024 characters. Without it the dashboard is read-only.
   */
  token?: string;
  /**
   * Host names (as in the Host header, without the port) the dashboard answers to; any
   * other Host is refused with 403, which defeats DNS rebinding. Default: any. `visq
   * serve` sets it to the loopback names when it listens on a loopback address.
   */
  allowedHosts?: readonly string[];
  /**
   * Seconds between two samples of every queue for the charts (kept in this process, lost
   * when it stops), from 0.1 to 3600; 0 turns the history off (no sampling, no charts).
   * Default 5.
   */
  historyInterval?: number;
}

/** The dashboard's request listener; `close()` stops its sampling (the store stays open). */
export interface DashboardHandler extends RequestListener {
  /** Stops sampling the queues for the charts; resolves once a sample under way has ended. */
  close(): Promise<void>;
}

/** Seconds between samples unless `historyInterval` says otherwise. */
const DEFAULT_HISTORY_INTERVAL = 5;

/** The static files of the page, by path. Read once: they ship with the package. */
const SCRIPTS = ['app.js', 'chart.js', 'format.js', 'overview.js', 'queue.js'];
const PAGE_FILES: Readonly<Record<string, { file: string; type: string }>> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/style.css': { file: 'style.css', type: 'text/css; charset=utf-8' },
  ...Object.fromEntries(SCRIPTS.map((file) => [`/${file}`, { file, type: 'text/javascript; charset=utf-8' }])),
};

/** Only the page's own files run, fetch and style: queue names and items are user data. */
const CONTENT_SECURITY_POLICY =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; " +
  "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

function loadPage(): Map<string, { body: Buffer; type: string }> {
  const dir = new URL('./static/', import.meta.url);
  return new Map(Object.entries(PAGE_FILES).map(([path, { file, type }]) => [path, { body: readFileSync(new URL(file, dir)), type }]));
}

function historyIntervalOption(value: unknown): number {
  if (value === undefined) return DEFAULT_HISTORY_INTERVAL;
  const expected = 'a number of seconds from 0.1 to 3600, or 0 for no history';
  if (typeof value !== 'number') throw check.typeError('options.historyInterval', expected, value);
  if (value !== 0 && !(value >= 0.1 && value <= 3600)) throw check.rangeError('options.historyInterval', expected, value);
  return value;
}

function allowedHostsOption(value: unknown): string[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value)) throw check.typeError('options.allowedHosts', 'an array of host names', value);
  return value.map((host, i) => check.text(`options.allowedHosts[${i}]`, host, { maxLength: 255 }));
}

/**
 * A Node request listener serving the visq dashboard, its JSON API and `/metrics` for the
 * queues of `options` (see docs/observability.md):
 *
 * ```ts
 * createServer(createDashboardHandler({ redis, token: process.env.VISQ_DASHBOARD_TOKEN })).listen(9464, '127.0.0.1');
 * ```
 *
 * It expects to be mounted at the root of its server (the page fetches `/api/...`).
 */
export function createDashboardHandler(options: DashboardOptions): DashboardHandler {
  const opts = check.options('options', options, [...SOURCE_OPTION_KEYS, 'onError', 'token', 'allowedHosts', 'historyInterval']);
  const token = opts.token === undefined ? undefined : tokenOption('options.token', opts.token);
  const guard = new Guard(token, allowedHostsOption(opts.allowedHosts));
  const onError = onErrorOption(opts.onError);
  const interval = historyIntervalOption(opts.historyInterval);
  const source = new QueueSource(opts);
  const registry = metricsRegistry(source);
  const history = interval > 0 ? new History(Math.round(interval * 1000)) : undefined;
  const sampler = history ? new Sampler(source, history, onError) : undefined;
  const api = new Api(source, guard, history);
  const page = loadPage();

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    guard.checkHost(request);
    // a request target such as //host/x must stay a path, never become a host
    const url = new URL(`http://dashboard${request.url ?? '/'}`);
    const path = url.pathname;
    if (path === '/metrics') return serveMetrics(registry, request, response, onError);
    if (path === '/api' || path.startsWith('/api/')) return api.serve(path.split('/').slice(2), url, request, response);
    const file = page.get(path);
    if (!file) throw new HttpError(404, 'Not found');
    if (request.method !== 'GET' && request.method !== 'HEAD') throw new HttpError(405, 'Use GET here', { Allow: 'GET, HEAD' });
    response.writeHead(200, {
      ...COMMON_HEADERS,
      'Content-Type': file.type,
      'Content-Length': file.body.length,
      'Content-Security-Policy': CONTENT_SECURITY_POLICY,
    });
    response.end(request.method === 'HEAD' ? undefined : file.body);
  }

  const listener = (request: IncomingMessage, response: ServerResponse): void => {
    handle(request, response).catch((error: unknown) => {
      if (response.headersSent) {
        response.destroy();
      } else if (error instanceof HttpError) {
        sendJson(response, error.status, { error: error.message }, { ...error.headers });
      } else {
        onError?.(error);
        const message = error instanceof Error ? error.message : String(error);
        // the store is down or failing: the dashboard itself is fine and will answer again
        sendJson(response, error instanceof StoreError ? 503 : 500, { error: message });
      }
      if (request.readable) request.resume();
    });
  };
  sampler?.start();
  return Object.assign(listener, { close: async () => sampler?.close() });
}
