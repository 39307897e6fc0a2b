/**
 * Test hook: shifts the clock the store sees, so that tests can make leases expire and
 * delays come due without sleeping. The offset is passed to every script as ARGV[1] (and
 * used by the MemoryStore); production code never sets it, and it is not exported from
 * the package entry. Keyed by the connection (or MemoryStore) object, so every queue on
 * that connection sees the same shifted time, as all clients of one Redis do.
 */
const offsets = new WeakMap<object, number>();

/** The current offset in ms for `connection` (0 unless a test set one). */
export function clockOffsetMs(connection: object): number {
  return offsets.get(connection) ?? 0;
}

/** Moves the clock `connection`'s queues see forward by `ms` (tests only). */
export function advanceClock(connection: object, ms: number): void {
  offsets.set(connection, clockOffsetMs(connection) + ms);
}

/** Puts the clock back to real time (tests only). */
export function resetClock(connection: object): void {
  offsets.delete(connection);
}
