/**
 * What the observability suites share: dashboards served on a free loopback port (closed
 * after each test), plain HTTP requests with any headers, a parser of the Prometheus text
 * format, and Debian's chromium driven by playwright-core.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, request as httpRequest, type RequestListener, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { createDashboardHandler, type DashboardHandler, type DashboardOptions } from '../../src/index.js';
import { CHROMIUM, hasChromium, launchChromium } from '../harness/chromium.js';
import type { StoreContext } from '../harness/context.js';

// .ci/run installs chromium and sets this: there a missing browser fails the suite
// instead of skipping the browser tests unnoticed
if (!hasChromium && process.env.VISQ_REQUIRE_CHROMIUM === '1') {
  throw new Error(`VISQ_REQUIRE_CHROMIUM=1 but ${CHROMIUM} is missing: install Debian's chromium`);
}

/** A token long enough for the dashboard's check. */
export const TOKEN = 'test-token-0123456789abcdef';

export interface Served {
  /** `http://127.0.0.1:<port>` */
  readonly origin: string;
  readonly port: number;
}

/** Serves a request listener on a free loopback port until the end of the test. */
export function useServers(): (handler: RequestListener) => Promise<Served> {
  const servers: Server[] = [];
  afterEach(async () => {
    await Promise.all(
      servers.splice(0).map(
        (server) =>
          new Promise<void>((resolve) => {
            server.close(() => resolve());
            server.closeAllConnections();
          }),
      ),
    );
  });
  return (handler) =>
    new Promise((resolve, reject) => {
      const server = createServer(handler);
      servers.push(server);
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        const address = server.address();
        const port = typeof address === 'object' && address !== null ? address.port : 0;
        resolve({ origin: `http://127.0.0.1:${port}`, port });
      });
    });
}

/**
 * Serves a dashboard of the file's store under the test's prefix; `options` add or
 * override. Its sampling stops after the test.
 */
export function useDashboards(ctx: StoreContext): (options?: Partial<DashboardOptions>) => Promise<Served> {
  const serve = useServers();
  const handlers: DashboardHandler[] = [];
  afterEach(async () => {
    await Promise.all(handlers.splice(0).map((handler) => handler.close()));
  });
  return (options = {}) => {
    const handler = createDashboardHandler({ store: ctx.store, prefix: ctx.prefix, ...options });
    handlers.push(handler);
    return serve(handler);
  };
}

export interface Reply {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly text: string;
  json<T = Record<string, unknown>>(): T;
}

/** One HTTP request with exactly the headers given (fetch would add or forbid some, e.g. Host). */
export function send(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: options.method ?? 'GET', headers: options.headers ?? {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: <T>() => JSON.parse(text) as T });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

/** A POST of an action as the page sends it: JSON body, the bearer token (`null`: none). */
export function action(url: string, token: string | null = TOKEN, body = '{}', headers: Record<string, string> = {}): Promise<Reply> {
  return send(url, {
    method: 'POST',
    headers: {
      'Content-Type': 'application/json',
      ...(token === null ? {} : { Authorization: `Bearer ${token}` }),
      ...headers,
    },
    body,
  });
}

/** One sample of a scrape. */
export interface Sample {
  readonly name: string;
  readonly labels: Record<string, string>;
  readonly value: number;
}

/** A scrape parsed back: `# TYPE` by metric name, and every sample. */
export interface Scrape {
  readonly types: Map<string, string>;
  readonly samples: Sample[];
  /** The value of the one sample of `name` with (at least) these labels; undefined when none. */
  value(name: string, labels?: Record<string, string>): number | undefined;
}

function parseLabels(text: string): Record<string, string> {
  const labels: Record<string, string> = {};
  const pattern = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?/y;
  let position = 0;
  while (position < text.length) {
    pattern.lastIndex = position;
    const match = pattern.exec(text);
    if (!match) throw new Error(`Bad labels: ${text}`);
    labels[match[1] as string] = (match[2] as string).replace(/\\(.)/g, (_, ch: string) => (ch === 'n' ? '\n' : ch));
    position = pattern.lastIndex;
  }
  return labels;
}

/** Parses the Prometheus text format (0.0.4) strictly enough to catch malformed lines. */
export function parseScrape(text: string): Scrape {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const type = /^# TYPE (\S+) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (type) {
      types.set(type[1] as string, type[2] as string);
      continue;
    }
    if (line.startsWith('# HELP ')) continue;
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!sample) throw new Error(`Not a line of the Prometheus text format: ${JSON.stringify(line)}`);
    const value = sample[3] === '+Inf' ? Number.POSITIVE_INFINITY : Number(sample[3]);
    if (Number.isNaN(value)) throw new Error(`Bad value in ${JSON.stringify(line)}`);
    samples.push({ name: sample[1] as string, labels: parseLabels(sample[2] ?? ''), value });
  }
  return {
    types,
    samples,
    value(name, labels = {}) {
      const found = samples.filter(
        (s) => s.name === name && Object.entries(labels).every(([key, value]) => s.labels[key] === value),
      );
      if (found.length > 1) throw new Error(`${found.length} samples of ${name} match ${JSON.stringify(labels)}`);
      return found[0]?.value;
    },
  };
}

/** One headless chromium per file with a fresh profile; `page()` opens a tab closed after the test. */
export function useBrowser(): { page(): Promise<Page> } {
  let context: BrowserContext | undefined;
  let profile: string | undefined;
  const pages: Page[] = [];
  beforeAll(async () => {
    if (!hasChromium) return;
    profile = mkdtempSync(join(tmpdir(), 'visq-chromium-'));
    context = await launchChromium(profile, { width: 1280, height: 800 });
  });
  afterEach(async () => {
    await Promise.all(pages.splice(0).map((page) => page.close()));
  });
  afterAll(async () => {
    await context?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
  });
  return {
    async page() {
      if (!context) throw new Error('chromium is not running');
      const page = await context.newPage();
      pages.push(page);
      return page;
    },
  };
}


// The page's own global inside page.waitForFunction callbacks (the project compiles without the DOM library).
declare const document: { querySelector(selector: string): { textContent: string | null } | null };

/** Waits until the element of `selector` reads `text` (the page refreshes every 2 s). */
export async function showsText(page: Page, selector: string, text: string): Promise<void> {
  await page.waitForFunction(
    ([sel, expected]) => document.querySelector(sel as string)?.textContent === expected,
    [selector, text],
    { timeout: 10_000 },
  );
}

/** Uncaught errors and console errors of a page (a CSP refusal among them), to check there were none. */
export function problems(page: Page): string[] {
  const seen: string[] = [];
  page.on('pageerror', (error) => seen.push(`pageerror: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') seen.push(message.text());
  });
  return seen;
}
