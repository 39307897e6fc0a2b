/** `visq stats [queue]`: the counts of one queue, or of every queue under the prefix. */
import type { QueueStats } from '../../data/options.js';
import { DataQueue } from '../../data/queue.js';
import { statsRecord } from '../../data/stats.js';
import { parseCommandLine, positionals, queueArg, STORE_OPTIONS } from '../args.js';
import { discoverQueues } from '../discover.js';
import { EXIT } from '../failures.js';
import { jsonDocument, table, type Column } from '../output.js';
import { COMMAND_USAGE } from '../usage.js';
import { withStore } from '../store.js';
import { storeTarget, type Command } from './shared.js';

const COUNTS = ['ready', 'delayed', 'inflight', 'dead', 'expired', 'dropped'] as const satisfies readonly (keyof QueueStats)[];

type QueueRow = { queue: string } & QueueStats;

export const statsCommand: Command = async (args, io) => {
  const { values, positionals: given } = parseCommandLine(args, STORE_OPTIONS);
  if (values.help) {
    io.out(COMMAND_USAGE.stats);
    return EXIT.ok;
  }
  const [queueRaw] = positionals(given, ['queue'], 0);
  const queue = queueRaw === undefined ? undefined : queueArg('queue', queueRaw);
  const target = storeTarget(values);

  const rows = await withStore(target, async (store) => {
    const names = queue === undefined ? await discoverQueues(store, target.prefix) : [queue];
    const found: QueueRow[] = [];
    for (const name of names) {
      const dq = new DataQueue(store, name, { prefix: target.prefix });
      try {
        found.push({ queue: name, ...statsRecord(await dq.stats()) });
      } finally {
        await dq.close();
      }
    }
    return found;
  });

  if (values.json) {
    io.out(jsonDocument(queue === undefined ? rows : rows[0]));
  } else if (rows.length === 0) {
    io.out(`No queues under the prefix ${JSON.stringify(target.prefix)}`);
  } else {
    const columns: Column[] = [{ header: 'queue' }, ...COUNTS.map((header) => ({ header, align: 'right' as const }))];
    io.out(table(columns, rows.map((row) => [row.queue, ...COUNTS.map((count) => String(row[count]))])));
  }
  return EXIT.ok;
};
