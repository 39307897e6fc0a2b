/**
 * Trace context on the data queue, with the real OpenTelemetry SDK: a put makes a
 * PRODUCER span and stores its context in the item's metadata (never in the payload); a
 * read makes a CONSUMER span linked to each item's creation context, through retries,
 * dead letters, redrive and forward(); a done makes a settle span.
 */
import { SpanKind, SpanStatusCode, trace, type Link, type SpanContext } from '@opentelemetry/api';
import { describe, expect, it } from 'vitest';
import { ClosedError, DataQueue, forward, MemoryStore } from '../../src/index.js';
import { MAX_LINKS } from '../../src/trace/spans.js';
import { peekCarrying } from '../../src/data/queue.js';
import { useStore } from '../harness/context.js';
import { useQueues } from '../harness/queues.js';
import { useTracing } from '../harness/tracing.js';

const ctx = useStore();
const open = useQueues(ctx);
const tracing = useTracing();

const linked = (links: readonly Link[]): { traceId: string; spanId: string }[] =>
  links.map(({ context }) => ({ traceId: context.traceId, spanId: context.spanId }));

const same = (context: SpanContext): { traceId: string; spanId: string } => ({ traceId: context.traceId, spanId: context.spanId });

/** Puts `items` in a request span of its own; returns the put's span context. */
async function putInRequest<T>(queue: DataQueue<T>, items: T[]): Promise<SpanContext> {
  await tracing.inSpan('request', () => queue.putData(items));
  const sends = tracing.named(`send ${queue.name}`);
  return (sends[sends.length - 1] as (typeof sends)[number]).spanContext();
}

describe('putData', () => {
  it('makes one PRODUCER span per call, a child of the active span, with the semconv attributes', async () => {
    const queue = open('orders');
    const { context: request } = await tracing.inSpan('request', () => queue.putData([{ a: 1 }, { a: 2 }, { a: 3 }]));
    const send = tracing.one('send orders');
    expect(send.kind).toBe(SpanKind.PRODUCER);
    expect(send.parentSpanContext?.spanId).toBe(request.spanId);
    expect(send.spanContext().traceId).toBe(request.traceId);
    expect(send.attributes).toEqual({
      'messaging.system': 'visq',
      'messaging.destination.name': 'orders',
      'messaging.operation.type': 'send',
      'messaging.operation.name': 'send',
      'messaging.batch.message_count': 3,
    });
  });

  it('names the item of a single put instead of a batch count', async () => {
    const queue = open('orders');
    const [id] = await queue.putData(['x']);
    const send = tracing.one('send orders');
    expect(send.attributes['messaging.message.id']).toBe(id);
    expect(send.attributes['messaging.batch.message_count']).toBeUndefined();
  });

  it('stores the trace context as item metadata, leaving the payload as it was', async () => {
    const queue = open<{ a: number }>('orders');
    const send = await putInRequest(queue, [{ a: 1 }]);
    const [peeked] = await queue[peekCarrying](1);
    expect(peeked?.meta).toBe(`00-${send.traceId}-${send.spanId}-01`);
    expect(peeked?.item).toEqual({ a: 1 });
    expect([...(await queue.getData(1)).values()]).toEqual([{ a: 1 }]);
  });

  it('makes no span for bad input, which is refused before anything is sent', async () => {
    const queue = open('orders');
    await expect(queue.putData([() => 1])).rejects.toThrow(TypeError);
    expect(tracing.spans()).toEqual([]);
  });

  it('records a failed put on its span: the exception, error status and error.type', async () => {
    const store = new MemoryStore();
    const queue = open('orders', {}, store);
    await store.close();
    await expect(queue.putData(['x'])).rejects.toThrow(ClosedError);
    const send = tracing.one('send orders');
    expect(send.status.code).toBe(SpanStatusCode.ERROR);
    expect(send.attributes['error.type']).toBe('ERR_VISQ_CLOSED');
    expect(send.events.map((event) => event.name)).toEqual(['exception']);
  });
});

describe('getData', () => {
  it('makes one CONSUMER span per call linked to each item of the batch, with its id and delivery', async () => {
    const queue = open('orders', { visTimeout: 30 });
    const first = await putInRequest(queue, ['a', 'b']);
    const second = await putInRequest(queue, ['c']);
    const deliveries = await tracing.inSpan('consumer', () => queue.getDeliveries(10));
    const receive = tracing.one('receive orders');
    expect(receive.kind).toBe(SpanKind.CONSUMER);
    expect(receive.parentSpanContext?.spanId).toBe(deliveries.context.spanId);
    expect(receive.attributes).toMatchObject({
      'messaging.system': 'visq',
      'messaging.destination.name': 'orders',
      'messaging.operation.type': 'receive',
      'messaging.batch.message_count': 3,
    });
    expect(linked(receive.links)).toEqual([same(first), same(first), same(second)]);
    expect(receive.links.map((link) => link.attributes)).toEqual(
      deliveries.result.map((d) => ({ 'messaging.message.id': d.id, 'visq.delivery_count': 1 })),
    );
  });

  it(`links at most ${MAX_LINKS} items of one read`, async () => {
    const queue = open('orders');
    await putInRequest(queue, Array.from({ length: 300 }, (_, i) => i));
    expect((await queue.getData(1000)).size).toBe(300);
    const receive = tracing.one('receive orders');
    expect(receive.links).toHaveLength(MAX_LINKS);
    expect(receive.attributes['messaging.batch.message_count']).toBe(300);
  });

  it('makes no links for items put outside any trace with sampling off', async () => {
    const queue = open('orders');
    tracing.sampling(false);
    await queue.putData(['untraced']);
    tracing.sampling(true);
    await queue.getData(1);
    expect(tracing.one('receive orders').links).toEqual([]);
    expect(tracing.named('send orders')).toEqual([]);
  });

  it('keeps the creation context through a retry, with the delivery count on the link', async () => {
    ctx.freeze(Date.now());
    const queue = open('orders', { visTimeout: 10, attempts: 3 });
    const send = await putInRequest(queue, ['x']);
    await queue.getData(1);
    ctx.advance(11);
    await queue.getData(1);
    const [, retry] = tracing.named('receive orders');
    expect(linked(retry?.links ?? [])).toEqual([same(send)]);
    expect(retry?.links[0]?.attributes?.['visq.delivery_count']).toBe(2);
  });

  it('keeps the creation context through the dead-letter queue and redrive', async () => {
    ctx.freeze(Date.now());
    const queue = open('orders', { visTimeout: 10, attempts: 1, useDead: true });
    const send = await putInRequest(queue, ['x']);
    await queue.getData(1);
    ctx.advance(11);
    expect(await queue.redrive()).toBe(1);
    await queue.getData(1);
    ctx.advance(11);
    await queue.stats();
    expect([...(await queue.dead.getData(1)).values()]).toEqual(['x']);
    expect(linked(tracing.one('receive orders:dead').links)).toEqual([same(send)]);
    const [, redriven] = tracing.named('receive orders');
    expect(linked(redriven?.links ?? [])).toEqual([same(send)]);
  });

  it('makes no span for bad arguments, which are refused before the read', async () => {
    const queue = open('orders');
    await expect(queue.getData(0)).rejects.toThrow(RangeError);
    expect(tracing.spans()).toEqual([]);
  });

  it('records a failed read on its span', async () => {
    const store = new MemoryStore();
    const queue = open('orders', {}, store);
    await store.close();
    await expect(queue.getData(1)).rejects.toThrow(ClosedError);
    expect(tracing.one('receive orders').status.code).toBe(SpanStatusCode.ERROR);
  });
});

describe('doneData', () => {
  it('makes one settle span per call, in the active trace', async () => {
    const queue = open('orders', { visTimeout: 30 });
    await queue.putData(['a', 'b']);
    const batch = await queue.getData(2);
    const { context: consumer, result: finished } = await tracing.inSpan('consumer', () => queue.doneData(batch));
    expect(finished).toBe(2);
    const settle = tracing.one('settle orders');
    expect(settle.kind).toBe(SpanKind.CLIENT);
    expect(settle.parentSpanContext?.spanId).toBe(consumer.spanId);
    expect(settle.attributes).toMatchObject({ 'messaging.operation.type': 'settle', 'messaging.batch.message_count': 2 });
    expect(settle.status.code).toBe(SpanStatusCode.UNSET);
  });

  it('makes no span when there is no lease to finish', async () => {
    const queue = open('orders', { visTimeout: 30 });
    expect(await queue.doneData(['not a lease'])).toBe(0);
    expect(tracing.named('settle orders')).toEqual([]);
  });
});

describe('forward', () => {
  it('moves items and dead letters with their trace context, and makes no spans of its own', async () => {
    const source = open('orders', { visTimeout: 10, attempts: 1, useDead: true });
    const dead = await putInRequest(source, ['dead']);
    // its one attempt fails: a dead letter
    await source.releaseData(await source.getData(1));
    const ready = await putInRequest(source, ['ready']);
    const before = tracing.spans().length;
    const store = new MemoryStore();
    const target = open('copy', {}, store);
    expect(await forward(source, target, { dead: true })).toMatchObject({ ready: 1, dead: 1 });
    expect(tracing.spans().slice(before).map((span) => span.name)).toEqual([]);
    expect([...(await target.getData(10)).values()]).toEqual(['ready']);
    expect([...(await target.dead.getData(10)).values()]).toEqual(['dead']);
    expect(linked(tracing.one('receive copy').links)).toEqual([same(ready)]);
    expect(linked(tracing.one('receive copy:dead').links)).toEqual([same(dead)]);
    await store.close();
  });
});

describe('sampling off', () => {
  it('stores no trace context for a put outside any trace, and records no span', async () => {
    const queue = open('orders', { visTimeout: 30 });
    tracing.sampling(false);
    await queue.putData(['x']);
    expect((await queue[peekCarrying](1)).map((p) => p.meta)).toEqual(['']);
    await queue.doneData(await queue.getData(1));
    expect(tracing.spans()).toEqual([]);
  });

  it('carries the trace of an unsampled caller, so the consumer side can follow its decision', async () => {
    const queue = open('orders');
    tracing.sampling(false);
    await trace.getTracer('test').startActiveSpan('request', async (span) => {
      expect(span.isRecording()).toBe(false);
      await queue.putData(['x']);
      span.end();
    });
    const [peeked] = await queue[peekCarrying](1);
    expect(peeked?.meta).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/);
    expect(tracing.spans()).toEqual([]);
  });
});
