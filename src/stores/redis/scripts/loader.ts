/**
 * Loads the Lua scripts once and runs them by SHA (EVALSHA), falling back to EVAL when
 * Redis answers NOSCRIPT (a restart or SCRIPT FLUSH), which also caches the script again.
 * Redis errors become typed visq errors here and nowhere else.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { ChainableCommander, Cluster, Redis } from 'ioredis';
import { IncompatibleFormatError, StoreError, StoreFullError } from '../../../errors.js';
import { VERSION } from '../../../version.js';
import { REDIS_FORMAT } from '../format.js';
import { assembleScript } from './assemble.js';

/** The connection types visq accepts. */
export type RedisConnection = Redis | Cluster;

export function isCluster(connection: RedisConnection): connection is Cluster {
  return connection.isCluster;
}

/** The scripts, one per atomic operation: the data queue's, then the task layer's records. */
export type ScriptName =
  | 'put'
  | 'put_dedupe'
  | 'dedupe'
  | 'get'
  | 'done'
  | 'refresh'
  | 'release'
  | 'peek'
  | 'stats'
  | 'redrive'
  | 'clear'
  | 'maintain'
  | 'limit'
  | 'group_put'
  | 'groups'
  | 'group_unblock'
  | 'tasks/enqueue'
  | 'tasks/claim'
  | 'tasks/settle'
  | 'tasks/cancel'
  | 'tasks/read'
  | 'tasks/schedule_claim';

interface Script {
  readonly name: ScriptName;
  readonly lua: string;
  readonly sha: string;
}

function readScript(file: string): string {
  return readFileSync(new URL(file, import.meta.url), 'utf8');
}

function compile(name: ScriptName): Script {
  let lua = assembleScript(readScript(`./${name}.lua`), (lib) => readScript(`./lib/${lib}.lua`));
  // the version line makes every release's scripts distinct, so mixed deployments
  // never run each other's scripts under one SHA; FORMAT is the layout's (see format.ts)
  lua = `-- visq ${VERSION} ${name}\nlocal FORMAT = '${REDIS_FORMAT}'\n${lua}`;
  return { name, lua, sha: createHash('sha1').update(lua).digest('hex') };
}

const compiled = new Map<ScriptName, Script>();

function script(name: ScriptName): Script {
  let found = compiled.get(name);
  if (!found) {
    found = compile(name);
    compiled.set(name, found);
  }
  return found;
}

/**
 * The SHA1 under which script `name` runs (EVALSHA), for tests that tell the scripts a
 * client sends apart. @internal Not exported from the package.
 */
export function scriptSha(name: ScriptName): string {
  return script(name).sha;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Maps a Redis failure to a visq error. */
export function toStoreError(error: unknown, operation: string): StoreError {
  if (error instanceof StoreError) return error;
  const message = messageOf(error);
  if (message.startsWith('OOM')) return new StoreFullError({ cause: error });
  const format = /VISQ_FORMAT (\S+) (\S+)/.exec(message);
  if (format) return new IncompatibleFormatError(format[1] as string, Number(format[2]), { cause: error });
  return new StoreError(`Redis failed ${operation}: ${message}`, { cause: error });
}

/**
 * Queues script `name` on an ioredis pipeline (EVALSHA only). A reply that starts with
 * NOSCRIPT means the script cache was emptied: run it again with `runScript`, which
 * falls back to EVAL.
 */
export function pipelineScript(
  pipeline: ChainableCommander,
  name: ScriptName,
  keys: readonly string[],
  args: readonly (string | number)[],
): void {
  pipeline.evalsha(script(name).sha, keys.length, ...keys, ...args);
}

/** Whether `error` says the script is not in Redis's script cache. */
export function isNoScript(error: unknown): boolean {
  return messageOf(error).startsWith('NOSCRIPT');
}

/** Runs script `name` with its keys and arguments; one round trip in the usual case. */
export async function runScript(
  connection: RedisConnection,
  name: ScriptName,
  keys: readonly string[],
  args: readonly (string | number)[],
): Promise<unknown> {
  const { sha, lua } = script(name);
  try {
    return await connection.evalsha(sha, keys.length, ...keys, ...args);
  } catch (error) {
    if (!isNoScript(error)) throw toStoreError(error, name);
  }
  try {
    return await connection.eval(lua, keys.length, ...keys, ...args);
  } catch (error) {
    throw toStoreError(error, name);
  }
}
