/**
 * The dashboard's JSON API. Paths carry queue names and item ids URL-encoded, one per
 * segment, so a name may hold any character, `/` included.
 *
 *   GET  /api/queues                        every queue's stats
 *   GET  /api/queues/:name[?limit=n]        stats, next ready items, dead letters, task metrics
 *   GET  /api/queues/:name/items/:id        one item (inspect), by item id or task id
 *   POST /api/queues/:name/redrive          dead letters back to the queue; body { count? }
 *   POST /api/queues/:name/purge-dead       delete the queue's dead letters
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { VisqRangeError, VisqTypeError } from '../errors.js';
import type { TaskMetrics } from '../tasks/metrics.js';
import * as check from '../validate.js';
import type { Guard } from './guard.js';
import { HttpError, readJsonBody, sendJson } from './http.js';
import { inspectItem } from './item.js';
import type { QueueSource } from './source.js';

const DEFAULT_LIMIT = 20;

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

  constructor(source: QueueSource, guard: Guard) {
    this.#source = source;
    this.#guard = guard;
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
    if (rawName === undefined) {
      allow(method, 'GET');
      return sendJson(response, 200, await this.#list());
    }
    const name = this.#queueName(segment(rawName, 'queue name'));
    if (action === undefined) {
      allow(method, 'GET');
      const limitRaw = url.searchParams.get('limit');
      const limit =
        limitRaw === null ? DEFAULT_LIMIT : asBadRequest(() => check.integerIn('limit', Number(limitRaw), 1, 1000));
      return sendJson(response, 200, await this.#queue(name, limit));
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

  async #list(): Promise<unknown> {
    const readings = await this.#source.readAll();
    return {
      prefix: this.#source.prefix,
      readOnly: this.#guard.readOnly,
      time: Date.now(),
      queues: readings.map(({ name, stats }) => ({ name, ...stats })),
    };
  }

  async #queue(name: string, limit: number): Promise<unknown> {
    const [reading, ready, dead] = await Promise.all([
      this.#source.read(name),
      this.#source.use(name, (queue) => queue.peekData(limit)),
      this.#source.use(name, (queue) => queue.dead.peekData(limit)),
    ]);
    return {
      name,
      prefix: this.#source.prefix,
      readOnly: this.#guard.readOnly,
      time: Date.now(),
      stats: reading.stats,
      ready: items(ready),
      dead: items(dead),
      tasks: reading.tasks.map(taskJson),
    };
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
