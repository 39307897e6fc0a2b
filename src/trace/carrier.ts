/**
 * The trace context an item carries in its metadata (data/backend.ts `ItemMeta`): the W3C
 * `traceparent` of the span that put it, and its `tracestate` if any, as
 * "<traceparent>[ <tracestate>]". visq writes and reads this itself rather than through
 * the registered propagator: the item's metadata is visq's format, and a span context
 * survives the trip whatever propagators the application configured (or none).
 *
 * A traceparent has no space and no '|'; a tracestate may hold both, so its '%' and '|'
 * are escaped as %25 and %7C (a stored record separates its fields with '|').
 */
import type { SpanContext } from '@opentelemetry/api';
import type { OtelApi } from './otel.js';

/** Longest tracestate carried, in characters (W3C's limit for propagation); a longer one is left out. */
const MAX_TRACESTATE = 512;

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(?:-[0-9a-f-]*)?$/;
const INVALID_TRACE = /^0{32}$/;
const INVALID_SPAN = /^0{16}$/;

/** The item metadata for a span context. */
export function metaOf(context: SpanContext): string {
  const flags = (context.traceFlags & 0xff).toString(16).padStart(2, '0');
  const traceparent = `00-${context.traceId}-${context.spanId}-${flags}`;
  const state = context.traceState?.serialize() ?? '';
  if (state === '' || state.length > MAX_TRACESTATE) return traceparent;
  return `${traceparent} ${state.replace(/[%|]/g, (c) => (c === '%' ? '%25' : '%7C'))}`;
}

/**
 * The span context an item's metadata names (remote: it was made elsewhere), or
 * `undefined` when the metadata holds none or is not valid. Items can come from anywhere
 * (another visq version, a hand-made record), so anything malformed is just no context.
 */
export function contextOf(meta: string | undefined, api: OtelApi): SpanContext | undefined {
  if (meta === undefined || meta === '') return undefined;
  const space = meta.indexOf(' ');
  const parts = TRACEPARENT.exec(space < 0 ? meta : meta.slice(0, space));
  if (!parts) return undefined;
  const [, version, traceId, spanId, flags] = parts as unknown as [string, string, string, string, string];
  // version ff is forbidden; version 00 has exactly four fields
  if (version === 'ff' || (version === '00' && parts[0].length !== 55)) return undefined;
  if (INVALID_TRACE.test(traceId) || INVALID_SPAN.test(spanId)) return undefined;
  const context: SpanContext = { traceId, spanId, traceFlags: Number.parseInt(flags, 16) & 0xff, isRemote: true };
  const state = space < 0 ? '' : meta.slice(space + 1).replace(/%(25|7C)/g, (_, code: string) => (code === '25' ? '%' : '|'));
  // createTraceState came with API 1.1; without it the state is left out
  if (state === '' || typeof api.createTraceState !== 'function') return context;
  return { ...context, traceState: api.createTraceState(state) };
}
