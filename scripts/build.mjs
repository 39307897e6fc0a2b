// Builds the package into dist/ (`npm run build`; npm runs it as `prepare` on `npm ci`,
// `npm install` in a clone, a git install, `npm pack` and `npm publish`). It removes the
// old dist/ first, so that a file deleted from src/ cannot ship; compiles src/ with tsc;
// then copies every other file of src/ to the same place under dist/: the files the code
// reads at run time next to itself (the Lua scripts of stores/redis/scripts, the
// dashboard page in observe/static).
import { spawnSync } from 'node:child_process';
import { cpSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../', import.meta.url));
rmSync(`${root}dist`, { recursive: true, force: true });

let tsc;
try {
  tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
} catch {
  console.error('visq build: TypeScript is missing; the build needs the dev dependencies (`npm ci`, not `npm ci --omit=dev`).');
  process.exit(1);
}
const compiled = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'inherit' });
if (compiled.status !== 0) process.exit(compiled.status ?? 1);

const isSource = (path) => path.endsWith('.ts') && !path.endsWith('.d.ts');
cpSync(`${root}src`, `${root}dist`, { recursive: true, filter: (path) => !isSource(path) });
