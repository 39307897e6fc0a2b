/**
 * `npm run bench`: visq against BullMQ, bee-queue and a raw Redis Streams consumer group,
 * on a private redis-server. The peers are dev dependencies of bench/ alone, so the
 * library's own dependencies stay clean; this entry checks they are installed and then
 * loads the benchmark (by a computed path, so that the root type check never needs them).
 */
import { existsSync } from 'node:fs';

const missing = ['bullmq', 'bee-queue'].filter((name) => !existsSync(new URL(`./node_modules/${name}/package.json`, import.meta.url)));
if (missing.length > 0) {
  console.error(
    `bench: the peers are not installed (missing: ${missing.join(', ')}). Install them once with\n\n` +
      '    npm ci --prefix bench\n\nthen run `npm run bench` again.',
  );
  process.exit(1);
}
if (!existsSync(new URL('../dist/index.js', import.meta.url))) {
  // visq is measured as users run it, built; `npm run bench` builds it first
  console.error('bench: visq is not built (dist/index.js is missing). Run `npm run bench`, which builds it, or `npm run build` first.');
  process.exit(1);
}
// `--statements` (npm run bench:statements): PostgreSQL statements by server time instead
const statements = process.argv[2] === '--statements';
if (statements) process.argv.splice(2, 1);
const main = new URL(statements ? './lib/postgres/statements.ts' : './lib/main.ts', import.meta.url).href;
await import(main);
