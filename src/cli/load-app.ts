/** Loads the user's module for `visq worker` and finds the Visq app it exports. */
import { existsSync } from 'node:fs';
import { extname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Visq } from '../app.js';
import { CliError } from './failures.js';

/**
 * A Visq app, or what looks like one. A module imports `visq` from its own install, which
 * can be another copy than the one running this CLI (a global CLI, a linked checkout);
 * `instanceof` fails across copies although the app works the same, so the methods the
 * CLI uses are checked instead.
 */
function isApp(value: unknown): value is Visq {
  if (value instanceof Visq) return true;
  if (typeof value !== 'object' || value === null) return false;
  const app = value as Partial<Record<'worker' | 'close' | 'task', unknown>> & { taskNames?: unknown };
  return (
    typeof app.worker === 'function' &&
    typeof app.close === 'function' &&
    typeof app.task === 'function' &&
    Array.isArray(app.taskNames)
  );
}

function errorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * Imports `path` (relative to `cwd`) and returns the app it exports as `default` or as
 * `app`. A `.ts` module needs a TypeScript loader in this process (run under tsx).
 */
export async function loadApp(path: string, cwd: string = process.cwd()): Promise<Visq> {
  const file = resolve(cwd, path);
  if (!existsSync(file)) throw new CliError(`Cannot find the module ${path} (looked for ${file})`);
  let exports: Record<string, unknown>;
  try {
    exports = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  } catch (error) {
    if (errorCode(error) === 'ERR_UNKNOWN_FILE_EXTENSION' && ['.ts', '.mts', '.cts'].includes(extname(file))) {
      throw new CliError(
        `Cannot import the TypeScript module ${path}: run visq under tsx, e.g. NODE_OPTIONS='--import tsx' visq worker --module ${path}`,
        undefined,
        { cause: error },
      );
    }
    // the module's own failure: its stack points at the user's code
    const detail = error instanceof Error ? (error.stack ?? error.message) : String(error);
    throw new CliError(`Loading the module ${path} failed: ${detail}`, undefined, { cause: error });
  }
  for (const name of ['default', 'app']) {
    if (isApp(exports[name])) return exports[name];
  }
  const names = Object.keys(exports);
  throw new CliError(
    `The module ${path} exports no Visq app: export it as \`default\` or as \`app\`` +
      ` (it exports ${names.length === 0 ? 'nothing' : names.map((n) => `\`${n}\``).join(', ')})`,
  );
}
