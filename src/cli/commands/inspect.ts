/** `visq inspect <queue> <id>`: where one item is and how it got there, by item id (a task's is its task id). */
import { inspectItem, type ItemReport } from '../../observe/item.js';
import { Visq } from '../../app.js';
import { itemIdArg, parseCommandLine, positionals, queueArg, STORE_OPTIONS } from '../args.js';
import { CliError, EXIT } from '../failures.js';
import { fields, itemText, jsonDocument } from '../output.js';
import { COMMAND_USAGE } from '../usage.js';
import { storeTarget, withQueue, type Command } from './shared.js';

function describeItem(report: ItemReport): [string, string][] {
  const rows: [string, string][] = [
    ['queue', report.queue],
    ['id', report.id],
    ['state', report.state],
    ['deliveries', String(report.deliveries)],
    ['priority', String(report.priority)],
  ];
  if (report.visibleAt) rows.push(['visibleAt', report.visibleAt.toISOString()]);
  if (report.leaseUntil) rows.push(['leaseUntil', report.leaseUntil.toISOString()]);
  if (report.lease !== undefined) rows.push(['lease', report.lease]);
  if (report.task) {
    rows.push(['task', report.task.name], ['taskId', report.task.id], ['taskStatus', report.task.status]);
    if (report.task.attempt !== undefined) rows.push(['attempt', String(report.task.attempt)]);
    if (report.task.error !== undefined) rows.push(['lastError', report.task.error]);
  }
  rows.push(['item', itemText(report.item)]);
  return rows;
}

export const inspectCommand: Command = async (args, io) => {
  const { values, positionals: given } = parseCommandLine(args, STORE_OPTIONS);
  if (values.help) {
    io.out(COMMAND_USAGE.inspect);
    return EXIT.ok;
  }
  const [queueRaw = '', idRaw = ''] = positionals(given, ['queue', 'id'], 2);
  const queue = queueArg('queue', queueRaw);
  const id = itemIdArg('id', idRaw);
  const target = storeTarget(values);

  const lookup = await withQueue(target, queue, async (dq, store) => {
    // reads the task record when the item is a task message; starts nothing
    const app = new Visq({ store, prefix: target.prefix });
    try {
      return await inspectItem(dq, app, id);
    } finally {
      await app.close();
    }
  });
  if (!lookup.found) throw new CliError(`${lookup.message} (prefix ${JSON.stringify(target.prefix)})`);
  io.out(values.json ? jsonDocument(lookup.report) : fields(describeItem(lookup.report)));
  return EXIT.ok;
};
