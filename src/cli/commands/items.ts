/** Items by id as peek and dead print them. */
import { itemText, table, type Output } from '../output.js';

/** Items as `{ id, item }` records, for JSON output. */
export function itemRecords(items: ReadonlyMap<string, unknown>): { id: string; item: unknown }[] {
  return [...items].map(([id, item]) => ({ id, item }));
}

/** A table of ids and items as one line of JSON each, or `empty` when there are none. */
export function printItems(io: Output, items: ReadonlyMap<string, unknown>, empty: string): void {
  if (items.size === 0) {
    io.out(empty);
    return;
  }
  io.out(table([{ header: 'id' }, { header: 'item' }], [...items].map(([id, item]) => [id, itemText(item)])));
}
