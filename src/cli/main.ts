#!/usr/bin/env node
/**
 * The `visq` bin. Exits explicitly: `visq worker` leaves the module's own Redis client
 * open (the module owns it), which would keep the process alive after the worker stops.
 */
import { stdio } from './output.js';
import { run } from './run.js';

/** Resolves once everything written to `stream` so far is handed to the OS (pipes are async on some platforms). */
function flushed(stream: NodeJS.WriteStream): Promise<void> {
  return new Promise((resolve) => stream.write('', () => resolve()));
}

const code = await run(process.argv.slice(2), stdio);
await Promise.all([flushed(process.stdout), flushed(process.stderr)]);
process.exit(code);
