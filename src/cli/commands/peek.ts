/** `visq peek <queue> [n]`: the next visible items, untouched. */
import { integerArg, parseCommandLine, positionals, queueArg, STORE_OPTIONS } from '../args.js';
import { EXIT } from '../failures.js';
import { jsonDocument } from '../output.js';
import { COMMAND_USAGE } from '../usage.js';
import { itemRecords, printItems } from './items.js';
import { storeTarget, withQueue, type Command } from './shared.js';

const DEFAULT_COUNT = 10;

export const peekCommand: Command = async (args, io) => {
  const { values, positionals: given } = parseCommandLine(args, STORE_OPTIONS);
  if (values.help) {
    io.out(COMMAND_USAGE.peek);
    return EXIT.ok;
  }
  const [queueRaw = '', countRaw] = positionals(given, ['queue', 'n'], 1);
  const queue = queueArg('queue', queueRaw);
  const count = countRaw === undefined ? DEFAULT_COUNT : integerArg('n', countRaw, 1, 1000);
  const target = storeTarget(values);

  const items = await withQueue(target, queue, (dq) => dq.peekData(count));
  if (values.json) {
    io.out(jsonDocument({ queue, items: itemRecords(items) }));
  } else {
    printItems(io, items, `No visible items in ${JSON.stringify(queue)}`);
  }
  return EXIT.ok;
};
