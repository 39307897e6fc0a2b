/**
 * peek: the next `count` visible items in delivery order, without touching them.
 *
 * $1 clock, $2 queue, $3 count, 1..1000
 * Returns one row (id, payload, meta) per item, in delivery order. Writes nothing.
 */
import { CLOCK, type Tables } from './lib.js';
import { visible } from './visible.js';

export function peekStatement(t: Tables): string {
  return `WITH ${CLOCK},
${visible(t, '$3::int')}
SELECT id::text AS id, payload, meta FROM visible ORDER BY priority DESC, seq`;
}
