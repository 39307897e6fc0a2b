/**
 * A comparable dump of the PostgresStore's rows for the queues whose key base starts with
 * a marker (e.g. `{t1-x:`), keyed like Redis keys: `<queue>:items`, `<queue>:dead` (the
 * dead table's rows of that queue), `<queue>:totals` (summed over server processes, as
 * stats() reads them), the task layer's `<queue>:tasks`, `:task_failures`, `:schedules`
 * and `:task-metrics:<field>`, and `<queue base>:registry`. For "nothing changed" checks.
 */
import type pg from 'pg';

type Rows = Record<string, unknown>[];

export async function snapshotPostgres(pool: pg.Pool, schema: string, marker: string): Promise<Record<string, unknown>> {
  const snapshot: Record<string, unknown> = {};
  const present = await pool.query(`SELECT to_regclass('"${schema}".items') IS NOT NULL AS present`);
  if (!(present.rows[0] as { present: boolean }).present) return snapshot;
  const add = (key: string, value: unknown): void => {
    snapshot[key] = value;
  };
  for (const table of ['items', 'dead']) {
    const { rows } = await pool.query(
      `SELECT * FROM "${schema}".${table} WHERE starts_with(queue, $1) ORDER BY queue, id`,
      [marker],
    );
    const byQueue = new Map<string, Rows>();
    for (const row of rows as Rows) {
      const queue = row.queue as string;
      byQueue.set(queue, [...(byQueue.get(queue) ?? []), row]);
    }
    for (const [queue, queueRows] of byQueue) add(`${queue}:${table}`, queueRows);
  }
  const totals = await pool.query(
    `SELECT queue, sum(puts) AS puts, sum(deliveries) AS deliveries, sum(dones) AS dones, sum(expiries) AS expiries,
       sum(dead_lettered) AS dead_lettered, sum(dropped) AS dropped, sum(expired) AS expired, sum(empty_reads) AS empty_reads
     FROM "${schema}".totals WHERE starts_with(queue, $1) GROUP BY queue ORDER BY queue`,
    [marker],
  );
  for (const row of totals.rows as Rows) add(`${row.queue as string}:totals`, row);
  // the task layer's rows: records, metrics (summed over server processes), failures, schedules
  for (const table of ['tasks', 'task_failures', 'schedules']) {
    const { rows } = await pool.query(
      `SELECT * FROM "${schema}".${table} WHERE starts_with(queue, $1) ORDER BY queue, 2`,
      [marker],
    );
    const byQueue = new Map<string, Rows>();
    for (const row of rows as Rows) byQueue.set(row.queue as string, [...(byQueue.get(row.queue as string) ?? []), row]);
    for (const [queue, queueRows] of byQueue) add(`${queue}:${table}`, queueRows);
  }
  const metrics = await pool.query(
    `SELECT queue, field, sum(value) AS value FROM "${schema}".task_metrics WHERE starts_with(queue, $1) GROUP BY queue, field ORDER BY queue, field`,
    [marker],
  );
  for (const row of metrics.rows as Rows) add(`${row.queue as string}:task-metrics:${row.field as string}`, row.value);
  const registry = await pool.query(
    `SELECT prefix, name FROM "${schema}".registry WHERE starts_with('{' || prefix || ':' || name || '}', $1) ORDER BY prefix, name`,
    [marker],
  );
  for (const row of registry.rows as Rows) add(`{${row.prefix as string}:${row.name as string}}:registry`, row);
  return snapshot;
}
