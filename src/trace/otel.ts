/**
 * The OpenTelemetry API, loaded lazily: `@opentelemetry/api` is an optional peer
 * dependency, so `import 'visq'` never loads it, and tracing costs one property read per
 * operation until some code in the process registers an OpenTelemetry global (a tracer
 * provider, a context manager, a propagator). Every copy of the API of major version 1
 * keeps its globals under one symbol on `globalThis`; as long as it is absent, no tracer
 * provider can be registered and visq creates no span and stores no trace context.
 *
 * The API is `require`d (its CommonJS build): it is synchronous, and the API's own
 * globals make the copy the application imported and this one share providers, context
 * managers and context keys.
 */
import { createRequire } from 'node:module';
import type * as Api from '@opentelemetry/api';

/** The `@opentelemetry/api` module. */
export type OtelApi = typeof Api;

/** Where every copy of `@opentelemetry/api` 1.x keeps its registered globals. */
const GLOBALS = Symbol.for('opentelemetry.js.api.1');

let api: OtelApi | undefined;
let missing = false;

/**
 * The OpenTelemetry API when tracing may be on (something registered an OpenTelemetry
 * global in this process), else `undefined`. Loads the API on the first call that finds
 * the globals; when it cannot be loaded from here, warns once and stays off.
 */
export function otel(): OtelApi | undefined {
  if (api !== undefined) return api;
  if (missing || (globalThis as Record<symbol, unknown>)[GLOBALS] === undefined) return undefined;
  try {
    api = createRequire(import.meta.url)('@opentelemetry/api') as OtelApi;
  } catch (cause) {
    missing = true;
    process.emitWarning(
      `OpenTelemetry is registered in this process, but visq cannot load '@opentelemetry/api' (${
        cause instanceof Error ? cause.message : String(cause)
      }): visq creates no spans. Install it beside visq: npm install @opentelemetry/api`,
      { code: 'VISQ_OTEL_MISSING' },
    );
  }
  return api;
}
