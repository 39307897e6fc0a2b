/**
 * The dashboard's JSON API. Paths carry queue names and item ids URL-encoded, one per
 * segment, so a name may hold any character, `/` included.
 *
 *   GET  /api/queues[?sort&order&offset&limit&filter&window]
 *                                           every queue's stats, rates and sparkline (a page of them)
 *   GET  /api/queues/:name[?limit=n]        stats, rates, next ready items, dead letters, task metrics, recent failures,
 *                                           the 10 busiest ordered groups
 *   GET  /api/queues/:name/history?window=w the queue's charts over the window (15m, 1h, 24h)
 *   GET  /api/queues/:name/dead[?offset&limit] a page of dead letters, with their tasks
 *   GET  /api/queues/:name/items/:id        one item (inspect), by item id (a task's is its task id)
 *   POST /api/queues/:name/redrive          dead letters back to the queue; body { count? }
 *   POST /api/queues/:name/purge-dead       delete the queue's dead letters
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { VisqRangeError, VisqTypeError } from '../errors.js';
import type { TaskMetrics } from '../tasks/metrics.js';
import * as check from '../validate.js';
import type { Guard } from './guard.js';
import { HttpError, readJsonBody, sendJson } from './http.js';
import { deadLetters, DEAD_LETTERS_REACHABLE } from './dead-letters.js';
import type { History, HistoryWindow } from './history.js';
import { inspectItem } from './item.js';
import { integerParam, listQuery, listQueues, windowParam } from './overview.js';
import type { QueueSource } from './source.js';

const DEFAULT_LIMIT = 20;
/** Dead letters per page unless asked otherwise. */
const DEAD_PAGE = 20;
/** The busiest ordered groups a queue's answer carries (docs/groups.md). */
const GROUPS_SHOWN = 10;
/** Recent failures a queue's answer carries. */
const FAILURES_SHOWN = 20;

function badRequest(error: unknown): unknown {
  return error instanceof VisqTypeError || error instanceof VisqRangeError ? new HttpError(400, error.message) : error;
}

/** Runs a check and turns its argument errors into 400 answers. */
function asBadRequest<T>(checkValue: () => T): T {
  try {
    return checkValue();
  } catch (error) {
    throw badRequest(error);
  }
}

function segment(raw: string, what: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new HttpError(400, `The ${what} in the path is not valid URL encoding`);
  }
}

/** Task metrics as JSON: the +Inf bucket bound becomes the string Prometheus writes. */
function taskJson(t: TaskMetrics): unknown {
  return {
    ...t,
    runTime: {
      ...t.runTime,
      buckets: t.runTime.buckets.map(({ le, count }) => ({ le: Number.isFinite(le) ? le : '+Inf', count })),
    },
  };
}

function items(found: ReadonlyMap<string, unknown>): { id: string; item: unknown }[] {
  return [...found].map(([id, item]) => ({ id, item }));
}

export class Api {
  readonly #source: QueueSource;
  readonly #guard: Guard;
  readonly #history: History | undefined;

  /** `history`: the sampled history, or undefined when it is off. */
  constructor(source: QueueSource, guard: Guard, history: History | undefined) {
    this.#source = source;
    this.#guard = guard;
    this.#history = history;
  }

  /** Serves `parts` (the path segments after `/api`); throws HttpError to refuse. */
  async serve(parts: readonly string[], url: URL, request: IncomingMessage, response: ServerResponse): Promise<void> {
    // every argument comes from the request: the library's own checks (a queue name it
    // does not take, say) are the client's mistake
    try {
      await this.#serve(parts, url, request, response);
    } catch (error) {
      throw badRequest(error);
    }
  }

  async #serve(parts: readonly string[], url: URL, request: IncomingMessage, response: ServerResponse): Promise<void> {
    const method = request.method === 'HEAD' ? 'GET' : request.method;
    const [root, rawName, action, rawId, ...rest] = parts;
    if (root !== 'queues' || rest.length > 0) throw new HttpError(404, 'No such API path');
    const params = url.searchParams;
    if (rawName === undefined) {
      allow(method, 'GET');
      return sendJson(response, 200, await this.#list(params));
    }
    const name = this.#queueName(segment(rawName, 'queue name'));
    if (action === undefined) {
      allow(method, 'GET');
      const limit = asBadRequest(() => integerParam(params, 'limit', 1, 1000)) ?? DEFAULT_LIMIT;
      return sendJson(response, 200, await this.#queue(name, limit));
    }
    if (action === 'history' && rawId === undefined) {
      allow(method, 'GET');
      const window = asBadRequest(() => windowParam(params)) ?? '15m';
      return sendJson(response, 200, this.#series(name, window));
    }
    if (action === 'dead' && rawId === undefined) {
      allow(method, 'GET');
      const offset = asBadRequest(() => integerParam(params, 'offset', 0, DEAD_LETTERS_REACHABLE - 1)) ?? 0;
      const limit = asBadRequest(() => integerParam(params, 'limit', 1, 100)) ?? DEAD_PAGE;
      return sendJson(response, 200, await this.#dead(name, offset, limit));
    }
    if (action === 'items' && rawId !== undefined) {
      allow(method, 'GET');
      const id = asBadRequest(() => check.text('id', segment(rawId, 'item id'), { maxLength: 512 }));
      const lookup = await this.#source.use(name, (queue) => inspectItem(queue, this.#source.app, id));
      if (!lookup.found) throw new HttpError(404, lookup.message);
      return sendJson(response, 200, lookup.report);
    }
    if (rawId !== undefined) throw new HttpError(404, 'No such API path');
    if (action === 'redrive') {
      allow(method, 'POST');
      this.#guard.checkAction(request);
      const count = redriveCount(await readJsonBody(request));
      const moved = await this.#source.use(name, (queue) => queue.redrive(count));
      return sendJson(response, 200, { queue: name, moved });
    }
    if (action === 'purge-dead') {
      allow(method, 'POST');
      this.#guard.checkAction(request);
      await readJsonBody(request);
      const purged = await this.#source.use(name, async (queue) => {
        const { dead } = await queue.stats();
        await queue.dead.clear();
        return dead;
      });
      return sendJson(response, 200, { queue: name, purged });
    }
    throw new HttpError(404, 'No such API path');
  }

  #queueName(raw: string): string {
    const name = asBadRequest(() => check.text('queue', raw, { maxLength: 256 }));
    if (!this.#source.allows(name)) throw new HttpError(404, `The queue ${JSON.stringify(name)} is not shown by this dashboard`);
    return name;
  }

  /** What every answer says of the dashboard itself. */
  #about(): { prefix: string; readOnly: boolean; time: number; history: unknown } {
    const history = this.#history;
    return {
      prefix: this.#source.prefix,
      readOnly: this.#guard.readOnly,
      time: Date.now(),
      history: history
        ? { interval: history.intervalMs / 1000, since: history.since ?? null, latest: history.latest ?? null }
        : { interval: 0, since: null, latest: null },
    };
  }

  async #list(params: URLSearchParams): Promise<unknown> {
    const query = asBadRequest(() => listQuery(params));
    const readings = await this.#source.readAll(false);
    const about = this.#about();
    const { total, queues } = listQueues(readings, this.#history, query, about.time);
    return { ...about, total, offset: query.offset, queues };
  }

  async #queue(name: string, limit: number): Promise<unknown> {
    const [reading, ready, dead, failures, groups] = await Promise.all([
      this.#source.read(name),
      this.#source.use(name, (queue) => queue.peekData(limit)),
      this.#source.use(name, (queue) => queue.dead.peekData(limit)),
      this.#source.app.recentFailures(name, FAILURES_SHOWN),
      this.#source.use(name, (queue) => queue.groups({ limit: GROUPS_SHOWN })),
    ]);
    return {
      name,
      ...this.#about(),
      stats: reading.stats,
      rates: this.#history?.latestRates(name) ?? null,
      ready: items(ready),
      dead: items(dead),
      tasks: reading.tasks.map(taskJson),
      failures,
      groups,
    };
  }

  #series(name: string, window: HistoryWindow): unknown {
    const about = this.#about();
    return { name, ...about, series: this.#history?.series(name, window, about.time) ?? null };
  }

  async #dead(name: string, offset: number, limit: number): Promise<unknown> {
    const [stats, page] = await Promise.all([
      this.#source.use(name, (queue) => queue.stats()),
      this.#source.use(name, (queue) => deadLetters(queue, this.#source.app, offset, limit)),
    ]);
    return { name, total: stats.dead, reachable: Math.min(stats.dead, DEAD_LETTERS_REACHABLE), offset, limit, items: page };
  }
}

function allow(method: string | undefined, allowed: 'GET' | 'POST'): void {
  if (method !== allowed) {
    throw new HttpError(405, `Use ${allowed} here`, { Allow: allowed === 'GET' ? 'GET, HEAD' : 'POST' });
  }
}

function redriveCount(body: unknown): number | undefined {
  const opts = asBadRequest(() => check.options('body', body, ['count']));
  return opts.count === undefined
    ? undefined
    : asBadRequest(() => check.integerIn('body.count', opts.count, 1, Number.MAX_SAFE_INTEGER));
}
