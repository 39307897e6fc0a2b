/**
 * `npm run demo` with no Redis at all: no REDIS_URL and no redis-server on PATH (PATH
 * holds only a link to node). It must fall back to the MemoryStore, say so, and pass.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

it('runs on the MemoryStore when there is no Redis, and its check passes', async () => {
  const bin = mkdtempSync(join(tmpdir(), 'visq-demo-path-'));
  try {
    symlinkSync(process.execPath, join(bin, 'node'));
    const env: NodeJS.ProcessEnv = { ...process.env, PATH: bin };
    delete env.REDIS_URL;
    delete env.NODE_OPTIONS;
    const child = spawn(join(bin, 'node'), ['--import', 'tsx', 'examples/demo.ts'], { cwd: ROOT, env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('close', resolve));

    expect(code, stderr).toBe(0);
    expect(stdout).toMatch(/^Store: MemoryStore \(no REDIS_URL, no redis-server on PATH\)/);
    expect(stdout).toContain('20,000 of 20,000 events aggregated');
    expect(stdout).toContain('nothing lost, nothing counted twice): OK');
  } finally {
    rmSync(bin, { recursive: true, force: true });
  }
});
