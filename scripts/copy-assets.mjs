// Copies the files the compiled code reads at run time next to it: the Lua scripts
// (dist/stores/redis/scripts/**/*.lua) and the dashboard page (dist/observe/static/).
import { cpSync } from 'node:fs';

cpSync(new URL('../src/stores/redis/scripts', import.meta.url), new URL('../dist/stores/redis/scripts', import.meta.url), {
  recursive: true,
  filter: (source) => !source.endsWith('.ts'),
});
cpSync(new URL('../src/observe/static', import.meta.url), new URL('../dist/observe/static', import.meta.url), {
  recursive: true,
});
