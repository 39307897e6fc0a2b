/**
 * examples/tracing.ts, as docs/observability.md shows it: on the MemoryStore, one request
 * and its task run, printed as span trees; two traces linked by default, one with
 * TRACE=parent.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

async function run(env: NodeJS.ProcessEnv): Promise<string> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'examples/tracing.ts'], { cwd: ROOT, env });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  expect(code, stderr).toBe(0);
  // the trees, without trace ids and durations
  return stdout
    .slice(stdout.indexOf('span trees:'))
    .replace(/trace [0-9a-f]{32}/g, 'trace …')
    .replace(/, [\d.]+ ms\)/g, ')');
}

it('prints the request and its task run as two linked traces, or one with TRACE=parent', async () => {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.REDIS_URL;
  delete env.TRACE;
  const [linked, parented] = await Promise.all([run(env), run({ ...env, TRACE: 'parent' })]);
  expect(linked).toBe(
    [
      'span trees:',
      'trace …',
      '  POST /orders (server)',
      '    send orders (producer)',
      'trace …',
      '  process orders (consumer) → linked to "send orders"',
      '    charge card (internal)',
      '',
    ].join('\n'),
  );
  expect(parented).toBe(
    [
      'span trees:',
      'trace …',
      '  POST /orders (server)',
      '    send orders (producer)',
      '      process orders (consumer) → linked to "send orders"',
      '        charge card (internal)',
      '',
    ].join('\n'),
  );
});
