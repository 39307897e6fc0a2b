/**
 * The records the scripts store: "seq|id|deliveries|priority|ttlMs|meta|payload" (see
 * scripts/lib/queue.lua), read back on the client side.
 */
import { CorruptRecordError } from '../../errors.js';

/** A stored record: "seq|id|deliveries|priority|ttlMs|meta|payload" (see lib/queue.lua). */
export interface StoredRecord {
  readonly id: string;
  /** Deliveries of this item that ended without done. */
  readonly deliveries: number;
  readonly priority: number;
  /** The item's metadata (its put's trace context), '' when it has none. */
  readonly meta: string;
  readonly payload: string;
}

/** Splits a record into its fields. */
export function parseRecord(record: string): StoredRecord {
  const p1 = record.indexOf('|');
  const p2 = record.indexOf('|', p1 + 1);
  const p3 = record.indexOf('|', p2 + 1);
  const p4 = record.indexOf('|', p3 + 1);
  const p5 = record.indexOf('|', p4 + 1);
  const p6 = record.indexOf('|', p5 + 1);
  if (p1 < 0 || p2 < 0 || p3 < 0 || p4 < 0 || p5 < 0 || p6 < 0) {
    throw new CorruptRecordError(`A stored record is malformed: ${JSON.stringify(record.slice(0, 60))}`);
  }
  return {
    id: record.slice(p1 + 1, p2),
    deliveries: Number(record.slice(p2 + 1, p3)),
    priority: Number(record.slice(p3 + 1, p4)),
    meta: record.slice(p5 + 1, p6),
    payload: record.slice(p6 + 1),
  };
}
