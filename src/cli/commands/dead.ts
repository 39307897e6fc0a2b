/** `visq dead <queue> [--redrive] [--limit n]`: show dead letters, or move them back. */
import { integerArg, parseCommandLine, positionals, queueArg, STORE_OPTIONS } from '../args.js';
import { EXIT } from '../failures.js';
import { jsonDocument } from '../output.js';
import { COMMAND_USAGE } from '../usage.js';
import { itemRecords, printItems } from './items.js';
import { storeTarget, withQueue, type Command } from './shared.js';

const DEFAULT_SHOWN = 10;

const DEAD_OPTIONS = {
  ...STORE_OPTIONS,
  redrive: { type: 'boolean' },
  limit: { type: 'string' },
} as const;

export const deadCommand: Command = async (args, io) => {
  const { values, positionals: given } = parseCommandLine(args, DEAD_OPTIONS);
  if (values.help) {
    io.out(COMMAND_USAGE.dead);
    return EXIT.ok;
  }
  const [queueRaw = ''] = positionals(given, ['queue'], 1);
  const queue = queueArg('queue', queueRaw);
  // redrive moves any number (in atomic steps of 1000); showing is one peek of at most 1000
  const limit =
    values.limit === undefined
      ? undefined
      : integerArg('--limit', values.limit, 1, values.redrive ? Number.MAX_SAFE_INTEGER : 1000);
  const target = storeTarget(values);

  if (values.redrive) {
    const moved = await withQueue(target, queue, (dq) => dq.redrive(limit));
    io.out(values.json ? jsonDocument({ queue, moved }) : `Moved ${moved} dead letter${moved === 1 ? '' : 's'} back to ${JSON.stringify(queue)}`);
    return EXIT.ok;
  }

  const { dead, items } = await withQueue(target, queue, async (dq) => ({
    dead: (await dq.stats()).dead,
    items: await dq.dead.peekData(limit ?? DEFAULT_SHOWN),
  }));
  if (values.json) {
    io.out(jsonDocument({ queue, dead, items: itemRecords(items) }));
  } else {
    if (dead > items.size) io.out(`${dead} dead letters in ${JSON.stringify(queue)}; the first ${items.size}:`);
    printItems(io, items, `No dead letters in ${JSON.stringify(queue)}`);
  }
  return EXIT.ok;
};
