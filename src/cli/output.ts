/**
 * Output of the CLI: aligned tables for people, JSON for programs (`--json`). Commands
 * write through an Output so that what they print is decided in one place.
 */

/** Where a command prints: results on `out`, diagnostics on `err`. */
export interface Output {
  /** Prints one line (a newline is added) to stdout. */
  out(line: string): void;
  /** Prints one line (a newline is added) to stderr. */
  err(line: string): void;
}

export const stdio: Output = {
  out: (line) => void process.stdout.write(`${line}\n`),
  err: (line) => void process.stderr.write(`${line}\n`),
};

/** One column of a table: numbers read best right-aligned. */
export interface Column {
  readonly header: string;
  readonly align?: 'left' | 'right';
}

/** Rows under headers, each column as wide as its widest cell, two spaces apart. */
export function table(columns: readonly Column[], rows: readonly (readonly string[])[]): string {
  const widths = columns.map((column, i) => Math.max(column.header.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    columns
      .map((column, i) => {
        const cell = cells[i] ?? '';
        const width = widths[i] ?? 0;
        return column.align === 'right' ? cell.padStart(width) : cell.padEnd(width);
      })
      .join('  ')
      .trimEnd();
  return [line(columns.map((c) => c.header)), ...rows.map(line)].join('\n');
}

/** `key  value` lines with the keys aligned, for one record. */
export function fields(entries: readonly (readonly [string, string])[]): string {
  const width = Math.max(...entries.map(([key]) => key.length));
  return entries.map(([key, value]) => `${key.padEnd(width)}  ${value}`).join('\n');
}

/** A JSON document for a one-shot command's `--json` output. */
export function jsonDocument(value: unknown): string {
  return JSON.stringify(value, null, 2);
}

/** One JSON Lines record, for the worker's event stream. */
export function jsonLine(value: unknown): string {
  return JSON.stringify(value);
}

/** An item as one line of JSON inside a table. */
export function itemText(item: unknown): string {
  return JSON.stringify(item) ?? String(item);
}
