/**
 * Fuzz of the `visq` command line, through its run function in this process: hostile
 * command lines answer exit code 64 with the command's message and usage on stderr,
 * before anything reaches Redis, and hostile but well-formed read-only commands answer
 * 0 or 1. Either way, no key of the file's private redis-server changes. Every URL a
 * command line carries is that server's or no Redis URL at all, and REDIS_URL points at
 * it too, so nothing here can reach another Redis.
 */
import fc from 'fast-check';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { run } from '../../src/cli/run.js';
import { COMMAND_USAGE, type CommandName } from '../../src/cli/usage.js';
import { DataQueue } from '../../src/index.js';
import { useStore } from '../harness/context.js';
import { snapshotRedis } from '../harness/snapshot.js';
import { selectedKind } from '../harness/store-kind.js';
import { hostileName, tried } from './hostile.js';

const runs = selectedKind() === 'redis';
const ctx = useStore();

/** Groups of arguments that are usage errors wherever they stand in a command line. */
const NUMBERS_NOT_ALLOWED = ['0', '-1', '1.5', 'NaN', 'abc', '', '0x10', 'Infinity', '١', '9'.repeat(30), '1e400'];
const NOT_URLS = ['http://127.0.0.1:1', 'not a url', '', 'redis//x', 'ftp://h'];

/** Connections the server has accepted so far. */
async function connections(): Promise<number> {
  return Number(/^total_connections_received:(\d+)/m.exec(await (ctx.redis as Redis).info('stats'))?.[1]);
}

/** Every key of the server, for "nothing changed". */
function snapshot(): Promise<Record<string, unknown>> {
  return snapshotRedis(ctx.redis as Redis, '');
}

interface Finished {
  readonly code: number;
  readonly out: string[];
  readonly err: string[];
}

async function visq(argv: readonly string[]): Promise<Finished> {
  const out: string[] = [];
  const err: string[] = [];
  tried.calls += 1;
  const code = await run(argv, { out: (line) => void out.push(line), err: (line) => void err.push(line) });
  return { code, out, err };
}

/** A command line: the command, then argument groups in any order (each group stays together). */
interface Line {
  readonly command: string;
  readonly groups: readonly (readonly string[])[];
}

function pick(values: readonly string[]): fc.Arbitrary<string> {
  return fc.constantFrom(...values);
}

/** Queue names and ids as they come from a shell: hostile, but never read as an option. */
const positional = hostileName.filter((name) => !name.startsWith('-'));

describe.runIf(runs)('fuzz: the visq command line', () => {
  let url = '';
  let savedUrl: string | undefined;

  beforeAll(() => {
    url = ctx.server.url;
    savedUrl = process.env.REDIS_URL;
    process.env.REDIS_URL = url;
  });

  afterAll(() => {
    if (savedUrl === undefined) delete process.env.REDIS_URL;
    else process.env.REDIS_URL = savedUrl;
    console.log(`fuzz: ${tried.calls} hostile command lines in this file`);
  });

  beforeEach(async () => {
    const queue = new DataQueue(ctx.store, 'jobs', { prefix: ctx.prefix, visTimeout: 30, useDead: true });
    await queue.putData([{ n: 1 }, { n: 2 }, { n: 3 }]);
    await queue.putData([{ n: 4 }], { delay: 60 });
    await queue.getData(1);
    await queue.dead.putData([{ dead: true }]);
    // the reads below bring the queue's bookkeeping up to date once, before any snapshot
    await queue.stats();
    await queue.dead.stats();
    await queue.close();
  });

  // a good option given after a bad one of the same name would replace it (the last one
  // wins), so the good options of a bad line never repeat an option the bad group sets;
  // the store commands find the server through REDIS_URL
  const storeGood = (): fc.Arbitrary<string[]> => fc.constant(['--json']);
  const storeBad: fc.Arbitrary<readonly string[]> = fc.oneof(
    fc.constantFrom(['--nope'], ['--jsno'], ['--json=yes'], ['-x'], ['--prefix', '{x'], ['--prefix', 'a}'], ['--prefix', ''], ['--prefix', 'p'.repeat(129)]),
    pick(NOT_URLS).map((u) => ['--redis-url', u]),
    positional.map((name) => [`--${name.replace(/\s/g, '')}x`]),
  );

  /** A command line with exactly one group that the command must refuse, among good ones. */
  function badLine(): fc.Arbitrary<Line> {
    const queue = positional.filter((q) => q.length <= 256);
    const options = fc.array(storeGood(), { maxLength: 3 });
    const peek = fc.oneof(
      fc.tuple(queue, pick(['0', '1001', '1.5', 'NaN', 'abc', '0x10', 'Infinity', '١']), options).map(([q, n, o]) => [[q], [n], ...o]),
      fc.tuple(queue, queue, queue, options).map(([a, b, c, o]) => [[a], ['5'], [b + c], ...o]),
      options.map((o) => [...o]),
      fc.tuple(queue, storeBad, options).map(([q, bad, o]) => [[q], bad, ...o]),
      fc.tuple(queue, options).map(([q, o]) => [[q], ['--limit', '3'], ...o]),
    );
    const stats = fc.oneof(
      fc.tuple(queue, queue, options).map(([a, b, o]) => [[a], [b], ...o]),
      fc.tuple(pick(['x'.repeat(257)]), options).map(([q, o]) => [[q], ...o]),
      fc.tuple(storeBad, options).map(([bad, o]) => [bad, ...o]),
      fc.tuple(options).map(([o]) => [['--redrive'], ...o]),
    );
    const dead = fc.oneof(
      fc.tuple(queue, pick(NUMBERS_NOT_ALLOWED), fc.boolean(), options).map(([q, n, redrive, o]) => [
        [q],
        [`--limit=${n}`],
        ...(redrive ? [['--redrive']] : []),
        ...o,
      ]),
      fc.tuple(queue, options).map(([q, o]) => [[q], ['--limit=1001'], ...o]),
      fc.tuple(queue, queue, fc.boolean(), options).map(([a, b, redrive, o]) => [[a], [b], ...(redrive ? [['--redrive']] : []), ...o]),
      fc.tuple(fc.boolean(), options).map(([redrive, o]) => [...(redrive ? [['--redrive']] : []), ...o]),
      fc.tuple(queue, storeBad, fc.boolean(), options).map(([q, bad, redrive, o]) => [[q], bad, ...(redrive ? [['--redrive']] : []), ...o]),
    );
    const inspect = fc.oneof(
      fc.tuple(queue, options).map(([q, o]) => [[q], ...o]),
      fc.tuple(queue, queue, queue, options).map(([a, b, c, o]) => [[a], [b], [c], ...o]),
      fc.tuple(queue, options).map(([q, o]) => [[q], ['x'.repeat(513)], ...o]),
      fc.tuple(queue, queue, storeBad, options).map(([q, id, bad, o]) => [[q], [id], bad, ...o]),
    );
    const workerBad = fc.oneof(
      fc.constantFrom(['--redis-url', 'redis://127.0.0.1:1'], ['--prefix', 'p'], ['extra'], ['--queues', ','], ['--queues', ''], ['--nope'], ['--concurency=5']),
      fc.tuple(pick(['--concurrency', '--prefetch', '--max-tasks']), pick([...NUMBERS_NOT_ALLOWED, '10001', '100001'])).map(([o, n]) => [
        `${o}=${n}`,
      ]).filter(([arg]) => !['--prefetch=10001', '--max-tasks=10001', '--max-tasks=100001'].includes(arg ?? '')),
      fc.tuple(pick(['--lifetime', '--timeout', '--shutdown-timeout']), pick(['-1', 'NaN', 'abc', '', '1e10', 'Infinity'])).map(([o, n]) => [`${o}=${n}`]),
    );
    const worker = fc
      .tuple(workerBad, fc.boolean(), fc.array(fc.constantFrom(['--json'], ['--quiet'], ['-q']), { maxLength: 2 }))
      .map(([bad, module, o]) => [bad, ...(module ? [['--module', '/nonexistent/visq-fuzz-module.js']] : []), ...o]);
    const forwardGood = fc.array(fc.constantFrom(['--dead'], ['--json'], ['-q']), { maxLength: 3 });
    const forward = fc
      .tuple(
        fc.oneof(
          fc.constantFrom(['--batch', '0'], ['--batch', '1001'], ['--rate', '0'], ['--vis-timeout', '0'], ['--to-prefix', '{'], ['--prefix', '}'], ['extra'], ['--nope']),
          pick(NOT_URLS).map((u) => ['--from', u]),
          pick(NOT_URLS).map((u) => ['--to', u]),
          pick(NUMBERS_NOT_ALLOWED.filter((n) => n !== '1e400')).map((n) => ['--rate', n]),
          fc.constant(['MISSING']),
        ),
        fc.subarray(['from', 'to', 'queue']),
        forwardGood,
      )
      .map(([bad, omit, good]) => {
        // a required option left out is the error when no other is given
        const required = [['--from', url], ['--to', url], ['--queue', 'jobs']].filter(
          ([flag]) => !omit.includes(flag?.slice(2) ?? '') && flag !== bad[0],
        );
        const missing = bad[0] === 'MISSING';
        return [...(missing ? required.slice(1) : required), ...(missing ? [] : [bad]), ...good];
      });
    const unknown = fc.constantFrom('', 'STATS', 'stat', '__proto__', 'constructor', 'toString', 'hasOwnProperty', '-x', '--json', 'peek ', 'worker\u0000');
    return fc.oneof(
      peek.map((groups) => ({ command: 'peek', groups })),
      stats.map((groups) => ({ command: 'stats', groups })),
      dead.map((groups) => ({ command: 'dead', groups })),
      inspect.map((groups) => ({ command: 'inspect', groups })),
      worker.map((groups) => ({ command: 'worker', groups })),
      forward.map((groups) => ({ command: 'forward', groups })),
      fc.tuple(unknown, options).map(([command, groups]) => ({ command, groups })),
      fc.tuple(fc.constant('help'), fc.constantFrom('__proto__', 'nope', 'stats extra')).map(([command, topic]) => ({ command, groups: [topic.split(' ')] })),
    );
  }

  /** The command, then the groups interleaved by `order`: options anywhere, positionals in their order. */
  function arrange(line: Line, order: readonly boolean[]): string[] {
    const isPositional = (g: readonly string[]): boolean => g.length === 1 && !g[0]?.startsWith('-');
    const positionals = line.groups.filter(isPositional);
    const options = line.groups.filter((g) => !isPositional(g));
    const argv = [line.command];
    for (let step = 0; positionals.length + options.length > 0; step += 1) {
      const takePositional = options.length === 0 || (positionals.length > 0 && order[step % order.length]);
      argv.push(...((takePositional ? positionals : options).shift() ?? []));
    }
    return argv;
  }

  it('refuses a bad command line with exit code 64 and its usage, before touching Redis', async () => {
    await fc.assert(
      fc.asyncProperty(badLine(), fc.array(fc.boolean(), { minLength: 1, maxLength: 8 }), async (line, order) => {
        const argv = arrange(line, order);
        const before = await snapshot();
        const connected = await connections();
        const { code, out, err } = await visq(argv);
        expect({ code, out }, `visq ${JSON.stringify(argv)}\n${err.join('\n')}`).toEqual({ code: 64, out: [] });
        expect(await connections(), `visq ${JSON.stringify(argv)} connected to Redis`).toBe(connected);
        expect(err[0]).toMatch(/^visq( [a-z]+)?: \S/);
        expect(err.join('\n')).toMatch(/Usage: visq/);
        // parseArgs's own advice never shows through, and a suggestion names something real
        expect(err[0]).not.toContain('To specify a positional argument');
        const meant = /did you mean '--([a-z-]+)'\?$|did you mean "([a-z]+)"\?$/.exec(err[0] ?? '');
        if (meant?.[1]) expect(COMMAND_USAGE[argv[0] as CommandName], err[0]).toContain(`--${meant[1]} `);
        if (meant?.[2]) expect([...Object.keys(COMMAND_USAGE), 'help']).toContain(meant[2]);
        expect(await snapshot()).toEqual(before);
      }),
      { numRuns: 200 },
    );
  });

  it('answers well-formed read-only commands on hostile names with 0 or 1, and changes nothing', async () => {
    const prefix = fc.oneof(fc.constant(ctx.prefix), hostileName.filter((p) => !/[{}]/.test(p) && p.length <= 128 && !p.startsWith('-')));
    const line = fc.oneof(
      fc.tuple(fc.constant('stats'), fc.option(positional, { nil: undefined })).map(([c, q]) => [c, ...(q === undefined ? [] : [q])]),
      fc.tuple(fc.constant('peek'), fc.oneof(fc.constant('jobs'), positional), fc.integer({ min: 1, max: 1000 })).map(([c, q, n]) => [c, q, String(n)]),
      fc.tuple(fc.constant('dead'), fc.oneof(fc.constant('jobs'), positional), fc.integer({ min: 1, max: 1000 })).map(([c, q, n]) => [c, q, `--limit=${n}`]),
      fc.tuple(fc.constant('inspect'), fc.oneof(fc.constant('jobs'), positional), positional).map(([c, q, id]) => [c, q, id]),
    );
    await fc.assert(
      fc.asyncProperty(line, prefix, fc.boolean(), async (argv, p, json) => {
        fc.pre(argv.slice(1).every((a) => a.length <= 256));
        const full = [...argv, '--redis-url', url, `--prefix=${p}`, ...(json ? ['--json'] : [])];
        const before = await snapshot();
        const { code, err } = await visq(full);
        expect([0, 1], `visq ${JSON.stringify(full)}: ${err.join('\n')}`).toContain(code);
        expect(await snapshot(), `visq ${JSON.stringify(full)}`).toEqual(before);
      }),
      { numRuns: 100 },
    );
  });
});
