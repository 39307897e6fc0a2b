/**
 * visq's spans, after the OpenTelemetry messaging semantic conventions: `send {queue}`
 * (PRODUCER) around a put, `receive {queue}` (CONSUMER) around a read, linked to the
 * trace context each item was put under, `settle {queue}` (CLIENT) around a done, and
 * `process {queue}` (CONSUMER) around a task run. Each helper does nothing but call
 * through while OpenTelemetry is off (see otel.ts), so the hot paths pay one property
 * read; with a provider whose sampler drops the span, the span is non-recording and the
 * per-item work (links, attributes) is skipped.
 *
 * A put stores the trace context (item metadata, carrier.ts) when its span is recording
 * or the caller was in a trace (an active span with a valid context, sampled or not, so
 * that the consumer side inherits the caller's sampling decision): never for a put made
 * outside any trace with sampling off.
 */
import type { Attributes, Context, Link, Span, SpanContext } from '@opentelemetry/api';
import { VERSION } from '../version.js';
import { contextOf, metaOf } from './carrier.js';
import { otel, type OtelApi } from './otel.js';

/** The instrumentation scope of visq's spans. */
export const TRACER_NAME = 'visq';

/**
 * Most links one receive span carries: links to the first 128 items of the read that
 * carry a trace context (the SDK's default limit of links per span, so none is dropped
 * there). A read returns up to 1000 items.
 */
export const MAX_LINKS = 128;

/** How a task run's span is tied to the trace that enqueued it. */
export type TraceMode = 'link' | 'parent';

/** What a receive links to, per item: its id, its delivery number and its metadata. */
export interface TracedItem {
  readonly id: string;
  readonly delivery: number;
  readonly meta?: string;
}

type Operation = 'send' | 'receive' | 'process' | 'settle';

function attributesOf(queue: string, operation: Operation, count?: number): Attributes {
  const attributes: Attributes = {
    'messaging.system': 'visq',
    'messaging.destination.name': queue,
    'messaging.operation.type': operation,
    'messaging.operation.name': operation,
  };
  if (count !== undefined && count > 1) attributes['messaging.batch.message_count'] = count;
  return attributes;
}

function startSpan(api: OtelApi, name: string, kind: number, attributes: Attributes, parent: Context, links?: Link[]): Span {
  // the tracer is looked up per span: a provider registered (or replaced) later takes effect
  return api.trace.getTracer(TRACER_NAME, VERSION).startSpan(name, { kind, attributes, ...(links ? { links } : {}) }, parent);
}

/** Marks `span` failed with `error`: the exception as an event, error status, `error.type`. */
export function recordFailure(api: OtelApi, span: Span, error: unknown): void {
  const failure = error instanceof Error ? error : new Error(String(error));
  const code = (failure as { code?: unknown }).code;
  span.recordException(failure);
  span.setStatus({ code: api.SpanStatusCode.ERROR, message: failure.message });
  span.setAttribute('error.type', typeof code === 'string' ? code : failure.name);
}

/** Whether a put under `span` (started in `parent`) stores its trace context. */
function carriesContext(api: OtelApi, span: Span, parent: Context): boolean {
  if (!api.isSpanContextValid(span.spanContext())) return false;
  if (span.isRecording()) return true;
  const caller = api.trace.getSpan(parent)?.spanContext();
  return caller !== undefined && api.isSpanContextValid(caller);
}

/**
 * Runs `send(meta)` (a put of `count` items returning their ids) in a PRODUCER span
 * `send {queue}`; `meta` is the trace context to store with the items, '' for none.
 */
export function traceSend(queue: string, count: number, send: (meta: string) => Promise<string[]>): Promise<string[]> {
  const api = otel();
  if (api === undefined || count === 0) return send('');
  return sendTraced(api, queue, count, send);
}

/** Runs `fn` with `span` active (a child of `parent`), records its failure, and ends the span. */
async function within<R>(api: OtelApi, span: Span, parent: Context, fn: () => Promise<R>): Promise<R> {
  try {
    return await api.context.with(api.trace.setSpan(parent, span), fn);
  } catch (error) {
    recordFailure(api, span, error);
    throw error;
  } finally {
    span.end();
  }
}

async function sendTraced(api: OtelApi, queue: string, count: number, send: (meta: string) => Promise<string[]>): Promise<string[]> {
  const parent = api.context.active();
  const span = startSpan(api, `send ${queue}`, api.SpanKind.PRODUCER, attributesOf(queue, 'send', count), parent);
  const meta = carriesContext(api, span, parent) ? metaOf(span.spanContext()) : '';
  return within(api, span, parent, async () => {
    const ids = await send(meta);
    if (count === 1 && ids[0] !== undefined && span.isRecording()) span.setAttribute('messaging.message.id', ids[0]);
    return ids;
  });
}

/**
 * Runs `receive()` (a read) in a CONSUMER span `receive {queue}` that links to the
 * creation context of each item read that carries one (at most {@link MAX_LINKS}), with
 * the item's id and delivery number on its link.
 */
export function traceReceive<D extends TracedItem>(queue: string, receive: () => Promise<D[]>): Promise<D[]> {
  const api = otel();
  if (api === undefined) return receive();
  return receiveTraced(api, queue, receive);
}

async function receiveTraced<D extends TracedItem>(api: OtelApi, queue: string, receive: () => Promise<D[]>): Promise<D[]> {
  const parent = api.context.active();
  const span = startSpan(api, `receive ${queue}`, api.SpanKind.CONSUMER, attributesOf(queue, 'receive'), parent);
  return within(api, span, parent, async () => {
    const items = await receive();
    if (span.isRecording()) {
      span.setAttribute('messaging.batch.message_count', items.length);
      const links = linksOf(api, items);
      // addLinks came with API 1.8; the links are known only once the read returned
      if (links.length > 0 && typeof span.addLinks === 'function') span.addLinks(links);
    }
    return items;
  });
}

function linksOf(api: OtelApi, items: readonly TracedItem[]): Link[] {
  const links: Link[] = [];
  for (const item of items) {
    if (links.length >= MAX_LINKS) break;
    const context = contextOf(item.meta, api);
    if (context) links.push({ context, attributes: { 'messaging.message.id': item.id, 'visq.delivery_count': item.delivery } });
  }
  return links;
}

/** Runs `settle()` (a done of `count` leases) in a CLIENT span `settle {queue}`. */
export function traceSettle(queue: string, count: number, settle: () => Promise<number>): Promise<number> {
  const api = otel();
  if (api === undefined) return settle();
  return settleTraced(api, queue, count, settle);
}

async function settleTraced(api: OtelApi, queue: string, count: number, settle: () => Promise<number>): Promise<number> {
  const parent = api.context.active();
  const span = startSpan(api, `settle ${queue}`, api.SpanKind.CLIENT, attributesOf(queue, 'settle', count), parent);
  return within(api, span, parent, settle);
}

/** One traced task run: its span, active while the run's code runs, and how it ended. */
export interface ProcessTrace {
  /** Calls `fn` with the run's span active, so that spans the task makes nest under it. */
  run<R>(fn: () => R): R;
  /** Ends the span; with `error`, the run failed (recorded, error status). */
  end(error?: Error): void;
}

/** What a task run's span says of the run. */
export interface ProcessInfo {
  readonly queue: string;
  readonly task: string;
  readonly attempt: number;
  /** `link` (default): a new trace linked to the enqueue's; `parent`: a child of the enqueue's span. */
  readonly mode: TraceMode;
}

/**
 * Starts the CONSUMER span `process {queue}` of a task run, or returns `undefined` while
 * OpenTelemetry is off. The span never continues the context the worker's code happens
 * to run in: it is a new root linked to the enqueue's trace context, or (mode `parent`,
 * when the item carries one) its child, linked too. `describe` is called only while
 * tracing is on, so that a run pays nothing for it otherwise.
 */
export function startProcess(item: TracedItem, describe: () => ProcessInfo): ProcessTrace | undefined {
  const api = otel();
  if (api === undefined) return undefined;
  const info = describe();
  const creation: SpanContext | undefined = contextOf(item.meta, api);
  const parent = info.mode === 'parent' && creation ? api.trace.setSpanContext(api.ROOT_CONTEXT, creation) : api.ROOT_CONTEXT;
  const attributes = attributesOf(info.queue, 'process');
  attributes['messaging.message.id'] = item.id;
  attributes['visq.delivery_count'] = item.delivery;
  attributes['visq.task.name'] = info.task;
  attributes['visq.task.attempt'] = info.attempt;
  const span = startSpan(api, `process ${info.queue}`, api.SpanKind.CONSUMER, attributes, parent, creation ? [{ context: creation }] : undefined);
  const active = api.trace.setSpan(parent, span);
  return {
    run: (fn) => api.context.with(active, fn),
    end: (error) => {
      if (error) recordFailure(api, span, error);
      span.end();
    },
  };
}

/**
 * Calls `fn` outside any trace (OpenTelemetry's root context): for loops that outlive
 * the call that started them (a worker's fetch and schedule loops), so that what they
 * do never joins the trace that happened to be active then, and each periodic tick
 * starts a trace of its own.
 */
export function outsideTraces<R>(fn: () => R): R {
  const api = otel();
  return api === undefined ? fn() : api.context.with(api.ROOT_CONTEXT, fn);
}
