// Copies the Lua scripts next to the compiled loader: dist/scripts/*.lua, dist/scripts/lib/*.lua.
import { cpSync } from 'node:fs';

cpSync(new URL('../src/scripts', import.meta.url), new URL('../dist/scripts', import.meta.url), {
  recursive: true,
  filter: (source) => !source.endsWith('.ts'),
});
