/**
 * "Did you mean …?": the nearest known word to a mistyped command or option, and the
 * messages `visq` prints with it (in process: usage errors never reach Redis).
 */
import { describe, expect, it } from 'vitest';
import { run } from '../../src/cli/run.js';
import { nearest } from '../../src/cli/suggest.js';

const COMMANDS = ['worker', 'stats', 'peek', 'dead', 'inspect', 'forward', 'serve', 'help'];

/** The first line `visq ...argv` prints on stderr, and its exit code. */
async function firstError(argv: readonly string[]): Promise<{ code: number; line: string | undefined }> {
  const err: string[] = [];
  const code = await run(argv, { out: () => undefined, err: (line) => void err.push(line) });
  return { code, line: err[0] };
}

describe('nearest', () => {
  it.each([
    ['stat', 'stats'],
    ['STATS', 'stats'],
    ['inpsect', 'inspect'],
    ['wroker', 'worker'],
    ['serv', 'serve'],
    ['insp', 'inspect'],
    ['forwrad', 'forward'],
  ])('takes %s for %s', (typed, meant) => {
    expect(nearest(typed, COMMANDS)).toBe(meant);
  });

  it.each(['frobnicate', 'x', 'wrk', '', 'constructor', '__proto__'])('suggests nothing for %j', (typed) => {
    expect(nearest(typed, COMMANDS)).toBeUndefined();
  });

  it('suggests nothing when two words are as near', () => {
    expect(nearest('pek', ['peek', 'perk'])).toBeUndefined();
  });

  it('finds the option in long option names', () => {
    const options = ['help', 'json', 'module', 'queues', 'concurrency', 'prefetch', 'lifetime', 'max-tasks', 'timeout', 'shutdown-timeout'];
    expect(nearest('concurency', options)).toBe('concurrency');
    expect(nearest('concurrancy', options)).toBe('concurrency');
    expect(nearest('max-task', options)).toBe('max-tasks');
    expect(nearest('shutdown', options)).toBe('shutdown-timeout');
    expect(nearest('bogus', options)).toBeUndefined();
  });
});

describe('visq with a mistyped command or option', () => {
  it.each([
    [['stat'], 'visq: unknown command "stat"; did you mean "stats"?'],
    [['inpsect', 'q', 'id'], 'visq: unknown command "inpsect"; did you mean "inspect"?'],
    [['help', 'wroker'], 'visq: no help for "wroker"; did you mean "worker"?'],
    [['help', 'stats', 'extra'], 'visq: no help for "stats extra"'],
    [['frobnicate'], 'visq: unknown command "frobnicate"'],
    [['worker', '--module', 'x.js', '--concurency=5'], "visq worker: Unknown option '--concurency'; did you mean '--concurrency'?"],
    [['stats', '--jsno'], "visq stats: Unknown option '--jsno'; did you mean '--json'?"],
    [['dead', 'q', '--redrve'], "visq dead: Unknown option '--redrve'; did you mean '--redrive'?"],
    [['forward', '--form', 'redis://h'], "visq forward: Unknown option '--form'; did you mean '--from'?"],
    [['peek', 'q', '--bogus'], "visq peek: Unknown option '--bogus' (an argument that starts with '-' goes after '--', as in: -- --bogus)"],
    [['peek', 'q', '-x'], "visq peek: Unknown option '-x' (an argument that starts with '-' goes after '--', as in: -- -x)"],
  ])('visq %j says so and exits 64', async (argv, message) => {
    expect(await firstError(argv)).toEqual({ code: 64, line: message });
  });
});
