/**
 * The dashboard as one Node request listener: the page (`/`, `/app.js`, `/style.css`,
 * static files shipped in ./static), the JSON API under `/api/`, and `/metrics`. `visq
 * serve` puts it in an http.Server; it mounts in a user's own server the same way.
 */
import { readFileSync } from 'node:fs';
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { StoreError } from '../errors.js';
import * as check from '../validate.js';
import { Api } from './api.js';
import { Guard, tokenOption } from './guard.js';
import { COMMON_HEADERS, HttpError, sendJson } from './http.js';
import { metricsRegistry, onErrorOption, serveMetrics, type MetricsHandlerOptions } from './metrics.js';
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
}

/** The static files of the page, by path. Read once: they ship with the package. */
const PAGE_FILES: Readonly<Record<string, { file: string; type: string }>> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/style.css': { file: 'style.css', type: 'text/css; charset=utf-8' },
};

/** Only the page's own files run, fetch and style: queue names and items are user data. */
const CONTENT_SECURITY_POLICY =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; " +
  "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

function loadPage(): Map<string, { body: Buffer; type: string }> {
  const dir = new URL('./static/', import.meta.url);
  return new Map(Object.entries(PAGE_FILES).map(([path, { file, type }]) => [path, { body: readFileSync(new URL(file, dir)), type }]));
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
export function createDashboardHandler(options: DashboardOptions): RequestListener {
  const opts = check.options('options', options, [...SOURCE_OPTION_KEYS, 'onError', 'token', 'allowedHosts']);
  const token = opts.token === undefined ? undefined : tokenOption('options.token', opts.token);
  const guard = new Guard(token, allowedHostsOption(opts.allowedHosts));
  const onError = onErrorOption(opts.onError);
  const source = new QueueSource(opts);
  const registry = metricsRegistry(source);
  const api = new Api(source, guard);
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

  return (request, response) => {
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
}
