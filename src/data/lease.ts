/**
 * Leases: the opaque string naming one delivery of one item, `<item id>:<entry>`, where
 * the entry is the read batch that delivered it. The store re-checks every lease, so the
 * parsing here only decides how leases travel, never whether one is live.
 */
import { VisqTypeError } from '../errors.js';
import { describe } from '../validate.js';

/** The parts of a well-formed lease. */
export interface LeaseParts {
  readonly id: string;
  readonly entry: string;
}

const ENTRY = /^[0-9]{1,16}$/;

/** Most ids a lease group carries (a read batch delivers at most 1000 items). */
const MAX_IDS = 1000;

/** The parts of `lease`, or `undefined` when it cannot be a lease of any queue. */
export function parseLease(lease: string): LeaseParts | undefined {
  const at = lease.lastIndexOf(':');
  if (at <= 0) return undefined;
  const entry = lease.slice(at + 1);
  if (!ENTRY.test(entry)) return undefined;
  return { id: lease.slice(0, at), entry };
}

/** Leases of one entry, as the scripts take them: the entry once, then the item ids. */
export interface LeaseGroup {
  readonly entry: string;
  readonly ids: string[];
}

/**
 * Reads the `leases` argument of refresh/done/release: any iterable of strings, or the
 * Map returned by getData (its keys). A non-string throws before anything is sent.
 * Returns the well-formed leases grouped by entry, duplicates removed; malformed strings
 * are simply left out, as they cannot be live.
 */
export function collectLeases(name: string, leases: unknown): LeaseGroup[] {
  const source = leases instanceof Map ? leases.keys() : leases;
  if (
    source === null ||
    typeof source !== 'object' ||
    typeof (source as Iterable<unknown>)[Symbol.iterator] !== 'function'
  ) {
    throw new VisqTypeError(
      `Expected \`${name}\` to be an iterable of lease strings or the Map returned by getData, got ${describe(leases)}`,
    );
  }
  const seen = new Set<string>();
  const groups = new Map<string, string[]>();
  let index = 0;
  for (const lease of source as Iterable<unknown>) {
    if (typeof lease !== 'string') {
      throw new VisqTypeError(`Expected \`${name}[${index}]\` to be a lease string, got ${describe(lease)}`);
    }
    index += 1;
    if (seen.has(lease)) continue;
    seen.add(lease);
    const parts = parseLease(lease);
    if (!parts) continue;
    const ids = groups.get(parts.entry);
    if (ids) ids.push(parts.id);
    else groups.set(parts.entry, [parts.id]);
  }
  // an entry holds at most MAX_IDS live leases; longer groups (only forged input makes
  // them) are split, so a script never unpacks more arguments than Lua's stack allows
  const result: LeaseGroup[] = [];
  for (const [entry, ids] of groups) {
    for (let start = 0; start < ids.length; start += MAX_IDS) result.push({ entry, ids: ids.slice(start, start + MAX_IDS) });
  }
  return result;
}

/** The script arguments of lease groups: count, then per group entry, n, ids. */
export function groupArgs(groups: readonly LeaseGroup[]): string[] {
  const args = [String(groups.length)];
  for (const group of groups) args.push(group.entry, String(group.ids.length), ...group.ids);
  return args;
}

/** The lease string of `id` delivered by `entry`. */
export function leaseOf(id: string, entry: string): string {
  return `${id}:${entry}`;
}
