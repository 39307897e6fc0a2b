/**
 * The queue registry: the names listQueues() gives, per prefix. DataQueue registers a
 * queue after its first put and forgets it when it is cleared; the SQL door registers
 * the queues it puts into.
 *
 * register / forget: $1 prefix, $2 name. names: $1 prefix; returns one row (name) per queue.
 */

export function registerStatement(schema: string): string {
  return `INSERT INTO ${schema}.registry (prefix, name) VALUES ($1, $2) ON CONFLICT DO NOTHING`;
}

export function forgetStatement(schema: string): string {
  return `DELETE FROM ${schema}.registry WHERE prefix = $1 AND name = $2`;
}

export function namesStatement(schema: string): string {
  return `SELECT name FROM ${schema}.registry WHERE prefix = $1`;
}
