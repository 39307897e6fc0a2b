/**
 * A fixed-size ring of points in time: each point a time (ms, Float64) and a value per
 * named column (Float32: about 7 significant digits, plenty for a chart, at half the
 * bytes). The oldest point is overwritten once the ring is full, so its memory is fixed
 * at creation but for columns added later (a task queue's tasks appear as they run).
 */
export class Ring {
  readonly capacity: number;
  readonly #times: Float64Array;
  readonly #columns = new Map<string, Float32Array>();
  /** Where the next point goes. */
  #next = 0;
  /** Points written since the ring was made (more than capacity once it wrapped). */
  #written = 0;

  constructor(capacity: number) {
    this.capacity = capacity;
    this.#times = new Float64Array(capacity);
  }

  /** Adds a point; a column it does not name reads NaN (no value) there. */
  push(time: number, values: ReadonlyMap<string, number>): void {
    const at = this.#next;
    this.#times[at] = time;
    for (const [key, column] of this.#columns) column[at] = values.get(key) ?? Number.NaN;
    for (const [key, value] of values) {
      if (this.#columns.has(key)) continue;
      const column = new Float32Array(this.capacity).fill(Number.NaN);
      column[at] = value;
      this.#columns.set(key, column);
    }
    this.#next = (at + 1) % this.capacity;
    this.#written += 1;
  }

  /** Points held. */
  get size(): number {
    return Math.min(this.#written, this.capacity);
  }

  /** Whether the ring still holds every point it was given (it has not wrapped). */
  get complete(): boolean {
    return this.#written <= this.capacity;
  }

  /** Time of the oldest point held, or undefined when empty. */
  get oldest(): number | undefined {
    if (this.#written === 0) return undefined;
    return this.#times[this.complete ? 0 : this.#next];
  }

  /** Position of the newest point, or undefined when empty. */
  get newest(): number | undefined {
    return this.#written === 0 ? undefined : (this.#next - 1 + this.capacity) % this.capacity;
  }

  /** Names of the columns, in the order they first appeared. */
  columnNames(): string[] {
    return [...this.#columns.keys()];
  }

  /** Positions of the points at or after `from`, oldest first. */
  indicesFrom(from: number): number[] {
    const out: number[] = [];
    const size = this.size;
    const first = this.complete ? 0 : this.#next;
    for (let k = 0; k < size; k += 1) {
      const at = (first + k) % this.capacity;
      if ((this.#times[at] as number) >= from) out.push(at);
    }
    return out;
  }

  time(at: number): number {
    return this.#times[at] as number;
  }

  /** The value of `column` at position `at`; NaN when the column is unknown or had none. */
  value(column: string, at: number): number {
    return this.#columns.get(column)?.[at] ?? Number.NaN;
  }

  /** Bytes of the typed arrays behind the ring. */
  get bytes(): number {
    let total = this.#times.byteLength;
    for (const column of this.#columns.values()) total += column.byteLength;
    return total;
  }
}
