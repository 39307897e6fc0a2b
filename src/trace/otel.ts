/**
 * The OpenTelemetry API, loaded lazily: `@opentelemetry/api` is an optional peer
 * dependency, so `import 'visq'` never loads it, and tracing costs two property reads per
 * operation while no tracer provider is registered in the process. Every copy of the API
 * of major version 1 keeps what is registered in one object under one symbol on
 * `globalThis`, the tracer provider under `trace` (the API's own `registerGlobal('trace',
 * …)`, the same since 1.0; `trace.disable()` deletes it). While it is absent, visq creates
 * no span and stores no trace context: an application that does not trace, or that has
 * OpenTelemetry installed (prom-client depends on the API) but no SDK registered, pays
 * nothing more.
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

/** The registered globals, as far as visq looks at them. */
interface Globals {
  readonly trace?: unknown;
}

let api: OtelApi | undefined;
let missing = false;

/**
 * The OpenTelemetry API while a tracer provider is registered in this process, else
 * `undefined`. Loads the API on the first call that finds one; when it cannot be loaded
 * from here, warns once and stays off.
 */
export function otel(): OtelApi | undefined {
  if ((globalThis as Record<symbol, Globals | undefined>)[GLOBALS]?.trace === undefined) return undefined;
  if (api !== undefined || missing) return api;
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
