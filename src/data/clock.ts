/**
 * Test hook: controls the clock the store sees, so that tests can make leases expire and
 * delays come due without sleeping. Production code never sets it, and it is not
 * exported from the package entry.
 *
 * Every script takes the clock as ARGV[1]: `"0"` (real Redis TIME, the production value),
 * a number of ms to add to TIME (`advanceClock`), or `"@<ms>"` for a frozen absolute time
 * (`freezeClock`, for model tests that must know the exact time of every step). The
 * MemoryStore follows the same hook. Keyed by the connection (or MemoryStore) object, so
 * every queue on that connection sees the same time, as all clients of one Redis do.
 */
interface TestClock {
  /** ms added to the real time, or the frozen absolute time when `frozen`. */
  value: number;
  frozen: boolean;
}

const clocks = new WeakMap<object, TestClock>();

/** The clock argument scripts receive for `connection`. */
export function clockArg(connection: object): string {
  const clock = clocks.get(connection);
  if (!clock) return '0';
  return clock.frozen ? `@${clock.value}` : String(clock.value);
}

/** Current time for an in-process store under the same hook (ms since the epoch). */
export function clockNow(connection: object): number {
  const clock = clocks.get(connection);
  if (!clock) return Date.now();
  return clock.frozen ? clock.value : Date.now() + clock.value;
}

/** Moves the clock `connection`'s queues see forward by `ms` (tests only). */
export function advanceClock(connection: object, ms: number): void {
  const clock = clocks.get(connection) ?? { value: 0, frozen: false };
  clock.value += ms;
  clocks.set(connection, clock);
}

/** Stops the clock at `atMs` (ms since the epoch) until advanced or reset (tests only). */
export function freezeClock(connection: object, atMs: number): void {
  clocks.set(connection, { value: atMs, frozen: true });
}

/** Puts the clock back to real time (tests only). */
export function resetClock(connection: object): void {
  clocks.delete(connection);
}
