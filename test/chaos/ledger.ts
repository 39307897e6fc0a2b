/**
 * The chaos ledger: every process of a chaos run appends what it saw to a file of its
 * own, one JSON line per event, written with a synchronous write(2) as soon as it happens.
 * The kernel owns the bytes once write returns, so a line survives a SIGKILL of its
 * writer; what can be missing is only what happened between a reply arriving and the
 * line being written (a kill in that instant), which the checks below account for.
 */
import { closeSync, openSync, readdirSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';

/** A data item of a chaos run: its producer key and a body derived from it, to detect damage. */
export interface ChaosItem {
  /** Unique per put attempt: a failed put is never retried under the same key. */
  readonly k: string;
  readonly poison: boolean;
  readonly body: string;
}

/** The body an item with key `k` carries, `length` characters long. */
export function bodyOf(k: string, length: number): string {
  return `${k}|`.repeat(Math.ceil(length / (k.length + 1))).slice(0, length);
}

/** Whether `item` is what its producer put: the body still matches its key. */
export function intact(item: unknown): item is ChaosItem {
  if (typeof item !== 'object' || item === null) return false;
  const { k, poison, body } = item as Partial<ChaosItem>;
  return typeof k === 'string' && typeof poison === 'boolean' && typeof body === 'string' && body === bodyOf(k, body.length);
}

/** The arguments of the chaos task: producer key, poison flag, run time in ms. */
export type ChaosTaskArgs = [k: string, poison: boolean, ms: number];

/** One line of a process's ledger. `p` names the process, `t` is its wall clock in ms. */
export type LedgerLine =
  | { readonly e: 'start'; readonly p: string; readonly t: number; readonly pid: number }
  /** A delivery received by a data consumer; `intact`: the payload is what was put. */
  | {
      readonly e: 'got';
      readonly p: string;
      readonly t: number;
      readonly id: string;
      readonly d: number;
      readonly k: string;
      readonly intact: boolean;
    }
  /** A doneData([lease]) about to be sent for delivery `d` of `id`. */
  | { readonly e: 'try'; readonly p: string; readonly t: number; readonly id: string; readonly d: number }
  /**
   * Its answer: how many it finished (0 or 1). No line when the call failed or the writer
   * died. `reconnected`: the connection closed while the call was out, so the client may
   * have sent it twice — a 0 may then be the answer to a repeat of a call that finished it.
   */
  | {
      readonly e: 'done';
      readonly p: string;
      readonly t: number;
      readonly id: string;
      readonly d: number;
      readonly r: number;
      readonly reconnected: boolean;
    }
  /** A failure the process survived (the error class name). */
  | { readonly e: 'error'; readonly p: string; readonly t: number; readonly name: string; readonly message: string }
  /** A task run began (the first thing the task function does). */
  | { readonly e: 'run'; readonly p: string; readonly t: number; readonly task: string; readonly a: number; readonly k: string }
  /** A task run is about to return successfully. */
  | { readonly e: 'ok'; readonly p: string; readonly t: number; readonly task: string; readonly a: number }
  /** A script this process is about to send twice, as ioredis does after a reconnect (resend.ts). */
  | { readonly e: 'resent'; readonly p: string; readonly t: number; readonly script: string }
  /**
   * This worker kills itself around the settle of a failed run of `task` (the run's last
   * allowed, `last`, or one to be retried): just before the settle goes out, while it is
   * in flight, or just after it was applied.
   */
  | { readonly e: 'die'; readonly p: string; readonly t: number; readonly task: string; readonly a: number; readonly last: boolean };

/** Distributes Omit over the union, so each kind keeps its own fields. */
type WithoutHeader<L> = L extends LedgerLine ? Omit<L, 'p' | 't'> : never;

/** Appends the lines of one process to `<dir>/<name>.jsonl`. */
export class LedgerWriter {
  readonly #fd: number;
  readonly #name: string;

  constructor(dir: string, name: string) {
    this.#fd = openSync(join(dir, `${name}.jsonl`), 'a');
    this.#name = name;
  }

  /** Writes the lines in one write(2), before the caller goes on. */
  write(...lines: WithoutHeader<LedgerLine>[]): void {
    if (lines.length === 0) return;
    const t = Date.now();
    const text = lines.map((line) => `${JSON.stringify({ ...line, p: this.#name, t })}\n`).join('');
    writeSync(this.#fd, text);
  }

  close(): void {
    closeSync(this.#fd);
  }
}

/** Every complete line of every ledger file in `dir`. A torn last line (a kill mid-write) is skipped. */
export function readLedger(dir: string): LedgerLine[] {
  const lines: LedgerLine[] = [];
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.jsonl')).sort()) {
    const text = readFileSync(join(dir, file), 'utf8');
    for (const raw of text.split('\n')) {
      if (raw.length === 0) continue;
      try {
        lines.push(JSON.parse(raw) as LedgerLine);
      } catch {
        // only the last line of a file killed mid-write can be torn
      }
    }
  }
  return lines;
}
