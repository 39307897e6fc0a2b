/** `visq inspect <queue> <itemId>`: where one item is and how it got there. */
import type { ItemInfo } from '../../data/options.js';
import { itemIdArg, parseCommandLine, positionals, queueArg, STORE_OPTIONS } from '../args.js';
import { CliError, EXIT } from '../failures.js';
import { fields, itemText, jsonDocument } from '../output.js';
import { COMMAND_USAGE } from '../usage.js';
import { storeTarget, withQueue, type Command } from './shared.js';

function describeItem(queue: string, info: ItemInfo<unknown>): [string, string][] {
  const rows: [string, string][] = [
    ['queue', queue],
    ['id', info.id],
    ['state', info.state],
    ['deliveries', String(info.deliveries)],
    ['priority', String(info.priority)],
  ];
  if (info.visibleAt) rows.push(['visibleAt', info.visibleAt.toISOString()]);
  if (info.leaseUntil) rows.push(['leaseUntil', info.leaseUntil.toISOString()]);
  if (info.lease !== undefined) rows.push(['lease', info.lease]);
  rows.push(['item', itemText(info.item)]);
  return rows;
}

export const inspectCommand: Command = async (args, io) => {
  const { values, positionals: given } = parseCommandLine(args, STORE_OPTIONS);
  if (values.help) {
    io.out(COMMAND_USAGE.inspect);
    return EXIT.ok;
  }
  const [queueRaw = '', idRaw = ''] = positionals(given, ['queue', 'itemId'], 2);
  const queue = queueArg('queue', queueRaw);
  const id = itemIdArg('itemId', idRaw);
  const target = storeTarget(values);

  const info = await withQueue(target, queue, (dq) => dq.inspect(id));
  if (!info) {
    throw new CliError(
      `No item ${JSON.stringify(id)} in the queue ${JSON.stringify(queue)} or its dead letters (prefix ${JSON.stringify(target.prefix)})`,
    );
  }
  io.out(values.json ? jsonDocument({ queue, ...info }) : fields(describeItem(queue, info)));
  return EXIT.ok;
};
