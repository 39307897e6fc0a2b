/**
 * Without a tracer provider registered in the process (the state of every application
 * that does not trace, whether or not the API is installed), visq creates no span, stores
 * no trace context and never loads the API: not with a context manager alone, and not
 * once a provider was unregistered again.
 */
import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider } from '@opentelemetry/sdk-trace-base';
import { afterAll, describe, expect, it } from 'vitest';
import { Visq } from '../../src/index.js';
import { peekCarrying } from '../../src/data/queue.js';
import { otel } from '../../src/trace/otel.js';
import { useStore } from '../harness/context.js';
import { useQueues } from '../harness/queues.js';
import { nextEvent } from '../tasks/helpers.js';

const ctx = useStore();
const open = useQueues(ctx);

afterAll(() => {
  context.disable();
});

describe('without OpenTelemetry registered', () => {
  it('leaves the API unloaded and stores no metadata with items or tasks', async () => {
    const queue = open('orders', { visTimeout: 30 });
    await queue.putData(['a', 'b']);
    expect((await queue[peekCarrying](10)).map((p) => p.meta)).toEqual(['', '']);
    await queue.doneData(await queue.getData(10));

    const app = new Visq({ store: ctx.store, prefix: ctx.prefix });
    const task = app.task('noop', () => undefined, { queue: 'jobs' });
    await task.execute([]);
    expect((await app.queue('jobs')[peekCarrying](1)).map((p) => p.meta)).toEqual(['']);
    const worker = app.worker({ shutdownTimeout: 0.5 });
    await nextEvent(worker, 'done');
    await app.close();
    expect(otel()).toBeUndefined();
  });

  it('stays off with a context manager but no tracer provider, and once a provider is unregistered', async () => {
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    expect(otel()).toBeUndefined();
    trace.setGlobalTracerProvider(new BasicTracerProvider());
    expect(otel()).toBeDefined();
    trace.disable();
    expect(otel()).toBeUndefined();
    const queue = open('orders');
    await trace.getTracer('test').startActiveSpan('request', async (span) => {
      await queue.putData(['a']);
      span.end();
    });
    expect((await queue[peekCarrying](1)).map((p) => p.meta)).toEqual(['']);
  });
});
