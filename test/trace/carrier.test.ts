import * as api from '@opentelemetry/api';
import { describe, expect, it } from 'vitest';
import { contextOf, metaOf } from '../../src/trace/carrier.js';

const TRACE = '0af7651916cd43dd8448eb211c80319c';
const SPAN = 'b7ad6b7169203331';
const TRACEPARENT = `00-${TRACE}-${SPAN}-01`;

describe('item trace context', () => {
  it('is the W3C traceparent of the span context', () => {
    expect(metaOf({ traceId: TRACE, spanId: SPAN, traceFlags: 1 })).toBe(TRACEPARENT);
    expect(metaOf({ traceId: TRACE, spanId: SPAN, traceFlags: 0 })).toBe(`00-${TRACE}-${SPAN}-00`);
  });

  it('reads back as a remote span context', () => {
    expect(contextOf(TRACEPARENT, api)).toEqual({ traceId: TRACE, spanId: SPAN, traceFlags: 1, isRemote: true });
  });

  it('carries the tracestate after a space, escaping the record separator', () => {
    const traceState = api.createTraceState('vendor=a|b%c,other=x y');
    const meta = metaOf({ traceId: TRACE, spanId: SPAN, traceFlags: 1, traceState });
    expect(meta).toBe(`${TRACEPARENT} vendor=a%7Cb%25c,other=x y`);
    expect(meta.includes('|')).toBe(false);
    expect(contextOf(meta, api)?.traceState?.serialize()).toBe('vendor=a|b%c,other=x y');
  });

  it('leaves out a tracestate longer than 512 characters', () => {
    const traceState = { serialize: () => `k=${'v'.repeat(511)}` } as api.TraceState;
    expect(metaOf({ traceId: TRACE, spanId: SPAN, traceFlags: 1, traceState })).toBe(TRACEPARENT);
  });

  it('reads anything malformed or invalid as no context', () => {
    for (const meta of [
      '',
      undefined,
      'garbage',
      `00-${TRACE}-${SPAN}`,
      `00-${TRACE.toUpperCase()}-${SPAN}-01`,
      `ff-${TRACE}-${SPAN}-01`,
      `00-${'0'.repeat(32)}-${SPAN}-01`,
      `00-${TRACE}-${'0'.repeat(16)}-01`,
      `00-${TRACE}-${SPAN}-01-extra`,
    ]) {
      expect(contextOf(meta, api), String(meta)).toBeUndefined();
    }
  });

  it('accepts a later version with more fields, as W3C asks', () => {
    expect(contextOf(`01-${TRACE}-${SPAN}-01-abcd`, api)?.traceId).toBe(TRACE);
  });
});
