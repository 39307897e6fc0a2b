/**
 * The package as a user gets it: `npm pack` (which builds dist/ through `prepare`), the
 * tarball installed into a new project outside the repository, and used from there as
 * an ES module, with require(), from TypeScript (moduleResolution node16 and bundler) and
 * through its `visq` bin, on a private redis-server. publint and arethetypeswrong lint
 * the same tarball. The install fetches the package's dependencies like any user's
 * install, from the npm cache when it has them (`--prefer-offline`), else the registry.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataQueue } from '../../src/index.js';
import { finished, type Finished } from '../cli/processes.js';
import { parseScrape } from '../observe/helpers.js';
import { startRedisServer, type RedisServer } from '../harness/redis-server.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const FIXTURES = fileURLToPath(new URL('./consumer/', import.meta.url));
const REPOSITORY = 'https://github.com/visq/visq';
const bin = (name: string): string => join(ROOT, 'node_modules', '.bin', name);
/** For the steps that run tsc or a linter: seconds each on an idle machine, far more on a busy one. */
const SLOW = 120_000;

/** The environment of a user's shell: none of the npm run or test runner variables of this process. */
function userEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    // npm_config_local_prefix would point a nested npm at this repository
    if (/^(npm_(package|lifecycle)_|npm_command$|npm_config_local_prefix$|INIT_CWD$|NODE_OPTIONS$|VISQ_)/.test(key)) continue;
    env[key] = value;
  }
  return { ...env, ...extra };
}

function start(command: string, args: readonly string[], cwd: string, env: NodeJS.ProcessEnv = {}): ChildProcess {
  return spawn(command, args, { cwd, env: userEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
}

async function run(command: string, args: readonly string[], cwd: string, env: NodeJS.ProcessEnv = {}): Promise<Finished> {
  return finished(start(command, args, cwd, env));
}

/** Runs a command that must succeed; its output is the failure message otherwise. */
async function succeed(command: string, args: readonly string[], cwd: string, env: NodeJS.ProcessEnv = {}): Promise<string> {
  const result = await run(command, args, cwd, env);
  expect(result.code, `${command} ${args.join(' ')}\n${result.stdout}\n${result.stderr}`).toBe(0);
  return result.stdout;
}

function readJson<T>(path: string): T {
  return JSON.parse(readFileSync(path, 'utf8')) as T;
}

/** Every file under `dir`, as paths relative to it with `/` separators. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => relative(dir, join(entry.parentPath, entry.name)).split('\\').join('/'))
    .sort();
}

let work: string;
let tarball: string;
let consumer: string;
let installed: string;
let redis: RedisServer;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'visq-package-'));
  redis = await startRedisServer();
  await succeed('npm', ['pack', '--pack-destination', work, '--loglevel=error'], ROOT);
  const packed = readdirSync(work).filter((name) => name.endsWith('.tgz'));
  expect(packed).toHaveLength(1);
  tarball = join(work, packed[0] as string);

  consumer = join(work, 'consumer');
  mkdirSync(consumer);
  cpSync(FIXTURES, consumer, { recursive: true });
  writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'visq-consumer', private: true, type: 'module' }));
  // @types/node for the TypeScript consumer: the version this repository uses, so the npm cache has it
  const typesNode = readJson<{ version: string }>(join(ROOT, 'node_modules/@types/node/package.json')).version;
  await succeed(
    'npm',
    ['install', tarball, `@types/node@${typesNode}`, '--prefer-offline', '--no-audit', '--no-fund', '--no-package-lock', '--loglevel=error'],
    consumer,
  );
  installed = join(consumer, 'node_modules', 'visq');
}, 3 * SLOW);

afterAll(async () => {
  await redis?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('the tarball', () => {
  it('holds dist/ built from the current src/, README, LICENSE, CHANGELOG and package.json, and nothing else', () => {
    const expected = ['CHANGELOG.md', 'LICENSE', 'README.md', 'package.json'];
    for (const file of filesUnder(join(ROOT, 'src'))) {
      if (file.endsWith('.ts') && !file.endsWith('.d.ts')) {
        const base = `dist/${file.slice(0, -'.ts'.length)}`;
        expected.push(`${base}.js`, `${base}.d.ts`, `${base}.js.map`);
      } else {
        // read at run time next to the code: the Lua scripts, the dashboard page
        expected.push(`dist/${file}`);
      }
    }
    const shipped = filesUnder(installed);
    expect(shipped).toEqual(expected.sort());
    expect(shipped).toContain('dist/stores/redis/scripts/get.lua');
    expect(shipped).toContain('dist/observe/static/index.html');
  });

  it('ships source maps that carry their sources, so they resolve without src/', () => {
    const map = readJson<{ sources: string[]; sourcesContent?: string[] }>(join(installed, 'dist/data/queue.js.map'));
    expect(map.sources).toEqual(['../../src/data/queue.ts']);
    expect(map.sourcesContent?.[0]).toBe(readFileSync(join(ROOT, 'src/data/queue.ts'), 'utf8'));
  });

  it('has a package.json complete for the registry, whose peer dependencies are all optional', () => {
    const manifest = readJson<{
      exports: Record<string, unknown>;
      bin: Record<string, string>;
      peerDependencies?: Record<string, string>;
      peerDependenciesMeta?: Record<string, { optional?: boolean }>;
    }>(join(installed, 'package.json'));
    expect(manifest).toMatchObject({
      name: 'visq',
      license: 'MIT',
      type: 'module',
      sideEffects: false,
      homepage: `${REPOSITORY}#readme`,
      repository: { type: 'git', url: `git+${REPOSITORY}.git` },
      bugs: { url: `${REPOSITORY}/issues` },
      engines: { node: expect.stringMatching(/^>=20/) },
      types: './dist/index.d.ts',
      keywords: expect.arrayContaining(['redis', 'queue']),
    });
    expect(manifest.exports['./package.json']).toBe('./package.json');
    expect(existsSync(join(installed, manifest.bin.visq as string))).toBe(true);
    // pg, @opentelemetry/api: `import 'visq'` works without them, so npm must not install them
    for (const peer of Object.keys(manifest.peerDependencies ?? {})) {
      expect(manifest.peerDependenciesMeta?.[peer], `peer ${peer}`).toEqual({ optional: true });
    }
  });

  it("links its README only to absolute addresses, and those in this repository's main branch to files that exist", () => {
    const readme = readFileSync(join(installed, 'README.md'), 'utf8');
    const targets = [...readme.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)|<img[^>]+src="([^"]+)"/g)].map((m) => (m[1] ?? m[2]) as string);
    expect(targets.length).toBeGreaterThan(0);
    const relativeLinks = targets.filter((target) => !/^(https?:|mailto:|#)/.test(target));
    expect(relativeLinks, 'relative links do not resolve on the npm page').toEqual([]);
    const inRepository = new RegExp(`^(?:${REPOSITORY}/(?:blob|tree)/main/|https://raw\\.githubusercontent\\.com/visq/visq/main/)([^#?]+)`);
    const missing = targets
      .map((target) => inRepository.exec(target)?.[1])
      .filter((path): path is string => path !== undefined && !existsSync(join(ROOT, decodeURIComponent(path))));
    expect(missing).toEqual([]);
  });

  it('passes publint and arethetypeswrong', async () => {
    await succeed(bin('publint'), ['run', tarball, '--strict'], work);
    // visq is an ES module only: a CommonJS consumer loads it with require(esm) (Node
    // 20.19+), which the TypeScript of arethetypeswrong does not model; the require()
    // test below runs it instead
    await succeed(bin('attw'), [tarball, '--ignore-rules', 'cjs-resolves-to-esm', '--format', 'ascii', '--no-color'], work);
  }, SLOW);
});

describe('a consumer of the installed package', () => {
  it('runs a put/get/done and a task from an ES module', async () => {
    const stdout = await succeed(process.execPath, ['esm.mjs'], consumer, { REDIS_URL: redis.url, VISQ_PREFIX: 'esm' });
    const { version } = readJson<{ version: string }>(join(ROOT, 'package.json'));
    expect(JSON.parse(stdout)).toEqual({ version, put: 2, got: [{ n: 1 }, { n: 2 }], done: 2, finished: true, result: 5 });
  });

  it('type-checks with moduleResolution node16 and bundler', async () => {
    const tsc = join(ROOT, 'node_modules/typescript/bin/tsc');
    for (const project of ['tsconfig.node16.json', 'tsconfig.bundler.json']) {
      await succeed(process.execPath, [tsc, '-p', project], consumer);
    }
  }, SLOW);

  it('loads with require() on a Node with require(esm), else gets Node\'s ERR_REQUIRE_ESM', async () => {
    const { code, stdout, stderr } = await run(process.execPath, ['require.cjs'], consumer);
    expect(code, stderr).toBe(0);
    const outcome = JSON.parse(stdout) as { loaded: boolean; items?: unknown[]; code?: string; message?: string };
    if (process.features.require_module) {
      expect(outcome).toMatchObject({ loaded: true, items: ['a'] });
    } else {
      expect(outcome).toMatchObject({ loaded: false, code: 'ERR_REQUIRE_ESM', message: expect.stringContaining('import()') });
    }
  });
});

describe('the installed visq bin', () => {
  const visq = (): string => join(consumer, 'node_modules', '.bin', 'visq');

  it('prints its usage and version', async () => {
    const help = await run(visq(), ['--help'], consumer);
    expect(help.code, help.stderr).toBe(0);
    expect(help.stdout).toMatch(/^Usage: visq <command>/);
    const version = await run(visq(), ['--version'], consumer);
    expect(version.stdout.trim()).toBe(readJson<{ version: string }>(join(installed, 'package.json')).version);
  });

  it('shows a queue with stats, and serves /metrics until SIGTERM', async () => {
    const seed = redis.client();
    const queue = new DataQueue(seed, 'orders', { prefix: 'cli' });
    await queue.putData([1, 2]);
    await queue.close();
    const connection = ['--redis-url', redis.url, '--prefix', 'cli'];

    const stats = await run(visq(), ['stats', '--json', ...connection], consumer);
    expect(stats.code, stats.stderr).toBe(0);
    expect(JSON.parse(stats.stdout)).toMatchObject([{ queue: 'orders', ready: 2 }]);

    const serve = start(visq(), ['serve', '--port', '0', '--json', ...connection], consumer);
    const exit = finished(serve);
    const listening = await new Promise<{ metrics: string }>((resolve, reject) => {
      createInterface({ input: serve.stdout as NodeJS.ReadableStream }).on('line', (line) => {
        const event = JSON.parse(line) as { event: string; metrics: string };
        if (event.event === 'listening') resolve(event);
      });
      void exit.then(({ stderr }) => reject(new Error(`visq serve exited before listening: ${stderr}`)));
    });
    const scrape = parseScrape(await (await fetch(listening.metrics)).text());
    expect(scrape.value('visq_queue_items', { queue: 'orders', state: 'ready' })).toBe(2);
    serve.kill('SIGTERM');
    const { code, stderr } = await exit;
    expect(stderr).toBe('');
    expect(code).toBe(0);
  });
});
