/**
 * OpenTelemetry for a test file, with the real SDK: a tracer provider whose spans go to
 * an in-memory exporter, and the async-hooks (AsyncLocalStorage) context manager, so that
 * spans nest across awaits as they do in an application. Registered for the file in
 * beforeAll and unregistered in afterAll (each test file runs in a process of its own);
 * the exporter is emptied and sampling turned back on before each test.
 */
import { context, propagation, trace, type Span, type SpanContext } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type ReadableSpan,
  type Sampler,
} from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, beforeEach } from 'vitest';

export interface Tracing {
  /** Every span ended so far in this test, in the order they ended. */
  spans(): ReadableSpan[];
  /** The spans named `name`. */
  named(name: string): ReadableSpan[];
  /** The one span named `name`; throws if there are none or several. */
  one(name: string): ReadableSpan;
  /** Turns sampling off (every new root span is dropped) or back on. */
  sampling(on: boolean): void;
  /** Runs `fn` inside a new active span `name` (a request, say), ends it, returns fn's result and the span's context. */
  inSpan<R>(name: string, fn: (span: Span) => Promise<R>): Promise<{ result: R; context: SpanContext }>;
}

/** A sampler that can be switched off and on between tests. */
class SwitchSampler implements Sampler {
  on = true;
  readonly #always = new AlwaysOnSampler();
  readonly #never = new AlwaysOffSampler();
  shouldSample(...args: Parameters<Sampler['shouldSample']>): ReturnType<Sampler['shouldSample']> {
    const sampler: Sampler = this.on ? this.#always : this.#never;
    return sampler.shouldSample(...args);
  }
  toString(): string {
    return 'SwitchSampler';
  }
}

export function useTracing(): Tracing {
  const exporter = new InMemorySpanExporter();
  const sampler = new SwitchSampler();
  const contextManager = new AsyncLocalStorageContextManager();

  beforeAll(() => {
    context.setGlobalContextManager(contextManager.enable());
    trace.setGlobalTracerProvider(new BasicTracerProvider({ sampler, spanProcessors: [new SimpleSpanProcessor(exporter)] }));
  });
  beforeEach(() => {
    exporter.reset();
    sampler.on = true;
  });
  afterAll(() => {
    trace.disable();
    context.disable();
    propagation.disable();
  });

  const named = (name: string): ReadableSpan[] => exporter.getFinishedSpans().filter((span) => span.name === name);
  return {
    spans: () => exporter.getFinishedSpans(),
    named,
    one(name) {
      const found = named(name);
      if (found.length !== 1) {
        const all = exporter.getFinishedSpans().map((span) => span.name);
        throw new Error(`Expected one span named ${name}, found ${found.length} among ${JSON.stringify(all)}`);
      }
      return found[0] as ReadableSpan;
    },
    sampling(on) {
      sampler.on = on;
    },
    async inSpan(name, fn) {
      return trace.getTracer('test').startActiveSpan(name, async (span) => {
        try {
          return { result: await fn(span), context: span.spanContext() };
        } finally {
          span.end();
        }
      });
    },
  };
}
