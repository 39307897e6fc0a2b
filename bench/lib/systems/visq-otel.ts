/**
 * visq with OpenTelemetry on and sampling off: the visq driver, in an agent process that
 * has a tracer provider registered (the real SDK, sampler AlwaysOff) and the async-hooks
 * context manager, as an application that traces but samples nothing here. Not among the
 * default systems: `--systems visq,visq-otel` compares it with plain visq (no provider
 * registered) in the same run; its ratio column is visq ÷ visq-otel. The provider is
 * unregistered when the job's client closes, so that visq jobs later in the same agent
 * run without it.
 */
import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { AlwaysOffSampler, BasicTracerProvider } from '@opentelemetry/sdk-trace-base';
import type { DataClient, SystemDriver, TaskClient } from './types.js';
import { visq } from './visq.js';

function register(): () => Promise<void> {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  trace.setGlobalTracerProvider(new BasicTracerProvider({ sampler: new AlwaysOffSampler() }));
  return async () => {
    trace.disable();
    context.disable();
  };
}

function unregisteringOnClose<C extends DataClient | TaskClient>(client: C, unregister: () => Promise<void>): C {
  const close = client.close.bind(client);
  return Object.assign(client, {
    async close() {
      await close();
      await unregister();
    },
  });
}

export const visqOtel: SystemDriver = {
  async data(server, consumer) {
    const unregister = register();
    return unregisteringOnClose(await visq.data(server, consumer), unregister);
  },
  async tasks(server, profile) {
    const unregister = register();
    return unregisteringOnClose(await (visq.tasks as NonNullable<SystemDriver['tasks']>)(server, profile), unregister);
  },
};
