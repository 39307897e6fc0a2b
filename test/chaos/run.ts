/**
 * The chaos run from the command line, for long runs:
 *
 *   npm run chaos -- --items 100000 --seconds 120 [--store redis|postgres] [--tasks N] [--consumers N] [--workers N] [--seed N] [--keep]
 *
 * `--store postgres` runs it on a private PostgreSQL (Debian's binaries, as the tests'):
 * connections terminated, clean restarts and crashes instead of Redis's disruptions.
 * `--keep` keeps the ledger files (one JSON line per event of each process) for study.
 *
 * Prints the figure table and every violation; exits 1 if there was any.
 */
import { parseArgs } from 'node:util';
import { formatReport } from './report.js';
import { runChaos } from './scenario.js';

const { values } = parseArgs({
  options: {
    items: { type: 'string', default: '20000' },
    seconds: { type: 'string', default: '30' },
    tasks: { type: 'string' },
    consumers: { type: 'string', default: '4' },
    workers: { type: 'string', default: '3' },
    seed: { type: 'string' },
    keep: { type: 'boolean' },
    store: { type: 'string', default: 'redis' },
  },
  strict: true,
});

function positive(name: string, raw: string | undefined, min: number): number {
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min) {
    console.error(`chaos: --${name} must be an integer of at least ${min}, got ${JSON.stringify(raw)}`);
    process.exit(64);
  }
  return value;
}

const items = positive('items', values.items, 1);
if (values.store !== 'redis' && values.store !== 'postgres') {
  console.error(`chaos: --store must be redis or postgres, got ${JSON.stringify(values.store)}`);
  process.exit(64);
}
const report = await runChaos({
  store: values.store,
  items,
  seconds: positive('seconds', values.seconds, 2),
  tasks: values.tasks === undefined ? Math.ceil(items / 20) : positive('tasks', values.tasks, 0),
  consumers: positive('consumers', values.consumers, 2),
  workers: positive('workers', values.workers, 2),
  seed: values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : positive('seed', values.seed, 0),
  keepLedger: values.keep === true,
  log: (line) => console.error(line),
});
console.log(formatReport(report));
process.exit(report.violations.length === 0 ? 0 : 1);
