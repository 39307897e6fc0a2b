import type { RequestListener } from 'node:http';
import { describe, expectTypeOf, it } from 'vitest';
import {
  createDashboardHandler,
  createMetricsHandler,
  MemoryStore,
  type DashboardHandler,
  type DashboardOptions,
  type MetricsHandlerOptions,
} from '../../src/index.js';

describe('createMetricsHandler and createDashboardHandler', () => {
  it('return Node request listeners', () => {
    expectTypeOf(createMetricsHandler).returns.toEqualTypeOf<RequestListener>();
    expectTypeOf(createDashboardHandler).returns.toEqualTypeOf<DashboardHandler>();
    // a request listener that can also stop its sampling
    expectTypeOf(createDashboardHandler).returns.toExtend<RequestListener>();
    expectTypeOf<DashboardHandler['close']>().toEqualTypeOf<() => Promise<void>>();
    expectTypeOf(createMetricsHandler).parameter(0).toEqualTypeOf<MetricsHandlerOptions>();
    expectTypeOf(createDashboardHandler).parameter(0).toEqualTypeOf<DashboardOptions>();
  });

  it('take their options', () => {
    const store = new MemoryStore();
    expectTypeOf({ store, prefix: 'app', queues: ['a', 'b'] }).toExtend<MetricsHandlerOptions>();
    expectTypeOf({ store, token: 'x'.repeat(16), allowedHosts: ['localhost'], historyInterval: 5 }).toExtend<DashboardOptions>();
    expectTypeOf<MetricsHandlerOptions['onError']>().toEqualTypeOf<((error: unknown) => void) | undefined>();
    // @ts-expect-error: queues are names
    createMetricsHandler({ store, queues: [1] });
  });
});

