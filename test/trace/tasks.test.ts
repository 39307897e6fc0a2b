/**
 * Trace context through the task layer, with the real OpenTelemetry SDK: an execute makes
 * a PRODUCER span whose context the task carries; its run is a CONSUMER `process` span,
 * linked to it (or its child with `trace: 'parent'`), with the task function running in
 * it; in this process and across two; periodic ticks start a trace each.
 */
import { SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { describe, expect, it } from 'vitest';
import { peekCarrying } from '../../src/data/queue.js';
import { useStore } from '../harness/context.js';
import { useTracing } from '../harness/tracing.js';
import { nextEvent, until, useTaskApps } from '../tasks/helpers.js';

const ctx = useStore();
const t = useTaskApps(ctx);
const tracing = useTracing();

/** A span made by the task function itself, inside its run. */
function inside(): void {
  trace.getTracer('test').startSpan('inside').end();
}

describe('execute', () => {
  it('makes a PRODUCER span in the caller trace, naming the task', async () => {
    const app = t.app();
    const add = app.task('add', (a: number, b: number) => a + b, { queue: 'jobs' });
    const { result: et, context: request } = await tracing.inSpan('request', () => add.execute([1, 2]));
    const send = tracing.one('send jobs');
    expect(send.kind).toBe(SpanKind.PRODUCER);
    expect(send.parentSpanContext?.spanId).toBe(request.spanId);
    expect(send.attributes).toMatchObject({
      'messaging.system': 'visq',
      'messaging.destination.name': 'jobs',
      'messaging.operation.type': 'send',
      'messaging.message.id': et.id,
    });
  });

  it('makes one span for executeMany, with the batch count', async () => {
    const app = t.app();
    const add = app.task('add', (a: number, b: number) => a + b);
    await add.executeMany([
      [1, 2],
      [3, 4],
    ]);
    expect(tracing.one('send default').attributes['messaging.batch.message_count']).toBe(2);
  });
});

describe('a task run', () => {
  it('is a CONSUMER process span of a trace of its own, linked to the execute, with the task function in it', async () => {
    const app = t.app();
    const task = app.task('work', inside, { queue: 'jobs' });
    const worker = t.worker(app);
    const done = nextEvent(worker, 'done');
    const { result: et } = await tracing.inSpan('request', () => task.execute([]));
    await done;
    const send = tracing.one('send jobs');
    const run = tracing.one('process jobs');
    expect(run.kind).toBe(SpanKind.CONSUMER);
    expect(run.parentSpanContext).toBeUndefined();
    expect(run.spanContext().traceId).not.toBe(send.spanContext().traceId);
    expect(run.links.map((link) => link.context.spanId)).toEqual([send.spanContext().spanId]);
    expect(run.attributes).toMatchObject({
      'messaging.system': 'visq',
      'messaging.destination.name': 'jobs',
      'messaging.operation.type': 'process',
      'messaging.message.id': et.id,
      'visq.task.name': 'work',
      'visq.delivery_count': 1,
    });
    expect(run.status.code).toBe(SpanStatusCode.UNSET);
    expect(tracing.one('inside').parentSpanContext?.spanId).toBe(run.spanContext().spanId);
  });

  it("is a child of the execute's span with trace: 'parent'", async () => {
    const app = t.app();
    const task = app.task('work', inside, { trace: 'parent' });
    const worker = t.worker(app);
    const done = nextEvent(worker, 'done');
    const { context: request } = await tracing.inSpan('request', () => task.execute([]));
    await done;
    const send = tracing.one('send default');
    const run = tracing.one('process default');
    expect(run.parentSpanContext?.spanId).toBe(send.spanContext().spanId);
    expect(run.spanContext().traceId).toBe(request.traceId);
    expect(tracing.one('inside').spanContext().traceId).toBe(request.traceId);
  });

  it('records a failure, and its retry carries the delivery count and the same link', async () => {
    const app = t.app();
    let runs = 0;
    const task = app.task(
      'flaky',
      () => {
        runs += 1;
        if (runs === 1) throw new Error('first run fails');
      },
      { attempts: 2, visTimeout: 30 },
    );
    const worker = t.worker(app);
    const done = nextEvent(worker, 'done');
    await task.execute([]);
    await done;
    const send = tracing.one('send default');
    const [failed, retried] = tracing.named('process default');
    expect(failed?.status).toEqual({ code: SpanStatusCode.ERROR, message: 'first run fails' });
    expect(failed?.events.map((event) => [event.name, event.attributes?.['exception.message']])).toEqual([
      ['exception', 'first run fails'],
    ]);
    expect(failed?.attributes['error.type']).toBe('Error');
    expect(retried?.status.code).toBe(SpanStatusCode.UNSET);
    expect(retried?.attributes['visq.delivery_count']).toBe(2);
    expect(retried?.links.map((link) => link.context.spanId)).toEqual([send.spanContext().spanId]);
  });

  it('keeps the link through its dead letter and a redrive', async () => {
    const app = t.app();
    let healthy = false;
    const fragile = app.task(
      'fragile',
      () => {
        if (!healthy) throw new Error('the mail server is down');
      },
      { attempts: 1, visTimeout: 30, useDead: true },
    );
    const worker = t.worker(app);
    const dead = nextEvent(worker, 'dead');
    const { result: et } = await tracing.inSpan('request', () => fragile.execute([]));
    await dead;
    const send = tracing.one('send default').spanContext();
    const [letter] = await app.queue().dead[peekCarrying](1);
    expect(letter?.id).toBe(et.id);
    expect(letter?.meta).toBe(`00-${send.traceId}-${send.spanId}-01`);
    healthy = true;
    const done = nextEvent(worker, 'done');
    expect(await app.queue().redrive()).toBe(1);
    await done;
    const [failed, redriven] = tracing.named('process default');
    expect(failed?.status.code).toBe(SpanStatusCode.ERROR);
    expect(redriven?.status.code).toBe(SpanStatusCode.UNSET);
    expect(redriven?.links.map((link) => link.context.spanId)).toEqual([send.spanId]);
  });

  it('is tied to the executing trace across two processes', async ({ skip }) => {
    if (ctx.kind !== 'redis' && ctx.kind !== 'postgres') skip('a worker process reaches the store through a Redis server or a PostgreSQL database');
    const child = await t.spawnWorker('traced-worker');
    const app = t.app();
    for (const mode of ['link', 'parent'] as const) {
      const task = app.task(`traced-${mode}`, () => undefined);
      const { result: et } = await tracing.inSpan('request', () => task.execute([]));
      const send = tracing.named('send default').at(-1)?.spanContext();
      const line = (): string | undefined =>
        child.output().split('\n').find((l) => l.startsWith('span ') && l.includes('"process default"') && l.includes(et.id));
      await until('the worker process ran the task', () => line() !== undefined);
      const run = JSON.parse((line() as string).slice(5)) as {
        traceId: string;
        spanId: string;
        parentSpanId?: string;
        links: { traceId: string; spanId: string }[];
        attributes: Record<string, unknown>;
      };
      expect(run.attributes['messaging.message.id']).toBe(et.id);
      expect(run.links).toEqual([{ traceId: send?.traceId, spanId: send?.spanId }]);
      if (mode === 'parent') {
        expect(run.traceId).toBe(send?.traceId);
        expect(run.parentSpanId).toBe(send?.spanId);
      } else {
        expect(run.traceId).not.toBe(send?.traceId);
        expect(run.parentSpanId).toBeUndefined();
      }
      await until('the task span nested in the run', () => child.output().includes(`"parentSpanId":"${run.spanId}"`));
    }
  });
});

describe('periodic tasks', () => {
  it('start a fresh trace per tick, whatever trace the worker was started in', async () => {
    const app = t.app();
    app.periodicTask('tick', inside, { every: 0.05 });
    await tracing.inSpan('startup', async () => {
      t.worker(app);
    });
    await until('two ticks ran', () => tracing.named('process default').length >= 2);
    const sends = tracing.named('send default').slice(0, 2);
    expect(sends.map((span) => span.parentSpanContext)).toEqual([undefined, undefined]);
    expect(new Set(sends.map((span) => span.spanContext().traceId)).size).toBe(2);
    const startup = tracing.one('startup').spanContext().traceId;
    expect(tracing.spans().filter((span) => span.name !== 'startup' && span.spanContext().traceId === startup)).toEqual([]);
  });
});
