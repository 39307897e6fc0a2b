/**
 * Without OpenTelemetry registered in the process (no tracer provider, no context
 * manager: the state of every application that does not trace), visq creates no span,
 * stores no trace context and never loads the API. With globals registered but no tracer
 * provider, a put outside any trace still stores nothing.
 */
import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
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

  it('stores none either with a context manager but no tracer provider, outside any trace', async () => {
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    expect(otel()).toBeDefined();
    const queue = open('orders');
    await queue.putData(['a']);
    expect((await queue[peekCarrying](1)).map((p) => p.meta)).toEqual(['']);
    // with no provider, nothing records: the tracer is OpenTelemetry's no-op
    expect(trace.getTracer('test').startSpan('x').isRecording()).toBe(false);
  });
});
