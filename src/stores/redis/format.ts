/**
 * The format of visq's stored layout on Redis: the keys of a queue, its records, leases,
 * entries and task records. A queue's meta hash holds it (field `v`), written by the put
 * that creates the queue; the steps that meet a queue (reads, puts, redrive, maintenance)
 * refuse one of another format with IncompatibleFormatError before they write anything,
 * so that two visq versions of different formats never both write to one queue.
 *
 * Raise it with every release whose scripts read or write the layout differently
 * (CHANGELOG says so); releases of one format can run side by side. See
 * docs/operations.md, "Upgrading".
 */
export const REDIS_FORMAT = 1;
