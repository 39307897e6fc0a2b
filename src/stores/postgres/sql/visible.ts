/**
 * The visible items of a queue at the statement's time, for the statements that read
 * without writing (peek, stats): visible rows whose ttl has not run out, plus rows whose
 * time came and that settling would make visible (lib.ts fateOf), in delivery order.
 */
import { fateOf, NOW, type Tables } from './lib.js';

/**
 * CTE `visible(id, priority, seq, entered_at, payload, meta)`: the first `limit` (an SQL
 * expression) visible items without a group (those of ordered groups wait their group's
 * turn: sql/groups.ts).
 */
export function visible(t: Tables, limit: string): string {
  const columns = 'i.id, i.priority, i.seq, i.entered_at, i.payload, i.meta';
  return `visible AS (
  SELECT v.* FROM (
    (SELECT ${columns} FROM ${t.items} i
      WHERE i.queue = $2 AND i.due_at IS NULL AND (i.expires_at IS NULL OR i.expires_at > ${NOW}) AND i.grp IS NULL
      ORDER BY i.priority DESC, i.seq LIMIT ${limit})
    UNION ALL
    (SELECT ${columns} FROM ${t.items} i
      WHERE i.queue = $2 AND i.due_at <= ${NOW} AND ${fateOf('i')} = 'ready' AND i.grp IS NULL
      ORDER BY i.priority DESC, i.seq LIMIT ${limit})
  ) v ORDER BY v.priority DESC, v.seq LIMIT ${limit}
)`;
}
