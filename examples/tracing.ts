/**
 * visq with OpenTelemetry: one HTTP request enqueues a task, a worker runs it, and the
 * spans show how the two are tied.
 *
 * The OpenTelemetry SDK is set up by hand here (a tracer provider with the console
 * exporter, and the async-hooks context manager); in an application, NodeSDK or
 * sdk-trace-node's `register()` does it, and @opentelemetry/instrumentation-http makes
 * the HTTP server span that this example makes itself. visq needs nothing else: it finds
 * the registered provider, and its spans join the active trace.
 *
 * The task runs in a trace of its own linked to the request's (the default), or with
 * TRACE=parent inside the request's trace (the task option `trace: 'parent'`). After the
 * console exporter's output, the example prints the span tree of each trace.
 *
 * The store: the Redis at REDIS_URL when set, else the in-process MemoryStore.
 * Run: npx tsx examples/tracing.ts   (or TRACE=parent npx tsx examples/tracing.ts)
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { context, SpanKind, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  BasicTracerProvider,
  ConsoleSpanExporter,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type ReadableSpan,
} from '@opentelemetry/sdk-trace-base';
import { Redis } from 'ioredis';
import { MemoryStore, Visq } from '../src/index.js';

// 1. OpenTelemetry, before any traced work. The in-memory exporter keeps the spans for the tree at the end.
const kept = new InMemorySpanExporter();
context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
trace.setGlobalTracerProvider(
  new BasicTracerProvider({
    spanProcessors: [new SimpleSpanProcessor(new ConsoleSpanExporter()), new SimpleSpanProcessor(kept)],
  }),
);
const tracer = trace.getTracer('shop');

// 2. The app: a task that charges an order, with a span of its own inside the run.
const redis = process.env.REDIS_URL ? new Redis(process.env.REDIS_URL) : undefined;
const app = new Visq(redis ? { redis, prefix: `tracing-example-${process.pid}` } : { store: new MemoryStore() });
const charge = app.task(
  'charge',
  async (order: { id: number; cents: number }) => {
    await tracer.startActiveSpan('charge card', async (span) => {
      span.setAttribute('order.id', order.id);
      await new Promise((resolve) => setTimeout(resolve, 5)); // the payment provider's round trip
      span.end();
    });
    return { charged: order.cents };
  },
  { queue: 'orders', trace: process.env.TRACE === 'parent' ? 'parent' : 'link', saveResults: 60 },
);
const worker = app.worker();

// 3. A web handler that enqueues the task; the server span is the one HTTP instrumentation would make.
async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
  await tracer.startActiveSpan(`${request.method} /orders`, { kind: SpanKind.SERVER }, async (span) => {
    const task = await charge.execute([{ id: 42, cents: 1999 }]);
    response.end(task.id);
    span.end();
  });
}
const server = createServer((request, response) => void handle(request, response));
server.listen(0, '127.0.0.1');
await once(server, 'listening');

// 4. One request, then wait for its task.
const { port } = server.address() as AddressInfo;
const taskId = await (await fetch(`http://127.0.0.1:${port}/orders`, { method: 'POST' })).text();
const enqueued = app.enqueuedTask(taskId, { queue: 'orders' });
await enqueued.wait(10);
console.log(`task ${taskId}: ${await enqueued.status()}`, await enqueued.result());

server.close();
await worker.close();
await app.queue('orders').clear();
await app.close();
redis?.disconnect();

// 5. The span tree of each trace, in the order the traces started.
const spans = kept.getFinishedSpans();
const byId = new Map(spans.map((span) => [span.spanContext().spanId, span]));
const kinds = ['internal', 'server', 'client', 'producer', 'consumer'];
const ms = (span: ReadableSpan): string => `${(span.duration[0] * 1e3 + span.duration[1] / 1e6).toFixed(1)} ms`;
const start = (span: ReadableSpan): number => span.startTime[0] * 1e9 + span.startTime[1];
function print(span: ReadableSpan, depth: number): void {
  const links = span.links.map((link) => ` → linked to "${byId.get(link.context.spanId)?.name ?? link.context.spanId}"`).join('');
  console.log(`${'  '.repeat(depth)}${span.name} (${kinds[span.kind]}, ${ms(span)})${links}`);
  const children = spans.filter((child) => child.parentSpanContext?.spanId === span.spanContext().spanId);
  for (const child of children.sort((a, b) => start(a) - start(b))) print(child, depth + 1);
}
const roots = spans.filter((span) => !span.parentSpanContext || !byId.has(span.parentSpanContext.spanId));
console.log('\nspan trees:');
for (const root of roots.sort((a, b) => start(a) - start(b))) {
  console.log(`trace ${root.spanContext().traceId}`);
  print(root, 1);
}
