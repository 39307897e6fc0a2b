/**
 * Ordered groups (docs/groups.md): the option types, their checks at the boundary, and
 * the shape `dq.groups()` returns. The stores keep the groups (lib/groups.lua on Redis,
 * stores/memory/groups.ts in process).
 */
import { VisqRangeError } from '../errors.js';
import * as check from '../validate.js';
import { describe } from '../validate.js';
import type { RawGroup } from './backend.js';

/** Longest group name, in characters. */
export const MAX_GROUP_LENGTH = 512;

/**
 * What happens to an ordered group when its head item is dead-lettered (its attempts are
 * spent, or `failData` dead-letters it): `'skip'` (the default) lets the group go on with
 * its next item; `'block'` keeps the group from delivering anything until a
 * {@link DataQueue.redrive} brings the item back (at the head of its group).
 */
export type GroupOnDead = 'skip' | 'block';

/** Queue option `groups` of `new DataQueue(store, name, { groups })`. */
export interface GroupQueueOptions {
  /**
   * What a dead-lettered head does to its group; see {@link GroupOnDead}. Default
   * `'skip'`. `'block'` needs `useDead: true` (a dropped item cannot be redriven).
   * Recorded in the queue by every grouped put, so the handles that put should agree.
   */
  onDead?: GroupOnDead;
}

/**
 * Put option `group`: the ordered group of the items. A string puts every item of the
 * call in that group; a function gives each item's group (called once per item, in
 * order). A group name is 1 to 512 characters without `"\0"`.
 */
export type GroupOption<T> = string | ((item: T, index: number) => string);

/** Options of {@link DataQueue.groups}. */
export interface GroupsOptions {
  /** How many groups to return, the busiest first: an integer from 1 to 10000. Default 100. */
  limit?: number;
}

/** One ordered group, as {@link DataQueue.groups} lists it. */
export interface GroupStats {
  /** The group name. */
  readonly group: string;
  /**
   * `'ready'`: items wait and nothing is out, so a read can take them; `'held'`: an item
   * is out (leased, or held back by a release delay), so nobody gets its next one;
   * `'blocked'`: its head was dead-lettered under `onDead: 'block'`, until a redrive;
   * `'idle'`: nothing waits (or, briefly, the group is being moved on).
   */
  readonly state: 'ready' | 'held' | 'blocked' | 'idle';
  /** Items waiting in the group (not out, not delayed). */
  readonly depth: number;
  /** Items of the group out: leased, or held back by a release delay. */
  readonly inflight: number;
  /** Seconds since the group's head (its oldest waiting item) entered the queue; 0 when nothing waits. */
  readonly oldestAge: number;
}

/** Validated `groups` queue option. */
export interface GroupSettings {
  readonly onDead: GroupOnDead;
}

export function groupQueueOptions(value: unknown, useDead: boolean): GroupSettings {
  const opts = check.options('options.groups', value, ['onDead']);
  if (opts.onDead === undefined) return { onDead: 'skip' };
  if (opts.onDead !== 'skip' && opts.onDead !== 'block') {
    const expected = "'skip' or 'block'";
    throw typeof opts.onDead === 'string'
      ? check.rangeError('options.groups.onDead', expected, opts.onDead)
      : check.typeError('options.groups.onDead', expected, opts.onDead);
  }
  if (opts.onDead === 'block' && !useDead) {
    throw new VisqRangeError(
      "Expected `options.groups.onDead` to be 'skip' or left out when `options.useDead` is false: a dropped head cannot be redriven, got \"block\" (string)",
    );
  }
  return { onDead: opts.onDead };
}

function groupName(name: string, value: unknown): string {
  const expected = `a non-empty string of at most ${MAX_GROUP_LENGTH} characters without "\\0"`;
  if (typeof value !== 'string') throw check.typeError(name, expected, value);
  if (value.length === 0 || value.length > MAX_GROUP_LENGTH || value.includes('\0')) {
    throw check.rangeError(name, expected, value);
  }
  return value;
}

/**
 * The group names of a put's items: one for all (a string option) or one per item (a
 * function, called in order). Throws before anything is written.
 */
export function groupNames<T>(value: unknown, items: readonly T[]): string[] {
  if (typeof value === 'string') return [groupName('opts.group', value)];
  if (typeof value !== 'function') {
    throw check.typeError('opts.group', 'a group name or a function (item, index) => group name', value);
  }
  const fn = value as (item: T, index: number) => unknown;
  const names: string[] = [];
  for (let i = 0; i < items.length; i += 1) names.push(groupName(`opts.group(items[${i}])`, fn(items[i] as T, i)));
  return names;
}

/** Refuses put options a group cannot combine with: a group has put order only. */
export function checkGroupPut(priority: number, ttlMs: number): void {
  if (priority !== 0) {
    throw new VisqRangeError(
      `Expected \`opts.priority\` to be 0 or left out with \`opts.group\` (a group delivers in put order), got ${describe(priority)}`,
    );
  }
  if (ttlMs !== 0) {
    throw new VisqRangeError(
      `Expected \`opts.ttl\` to be 0 or left out with \`opts.group\` (items of a group are never dropped unread), got ${describe(ttlMs / 1000)}`,
    );
  }
}

/** The distinct group names of an unblockGroups call, checked. */
export function unblockNames(value: unknown): string[] {
  if (typeof value === 'string' || value === null || typeof value !== 'object' || !(Symbol.iterator in value)) {
    throw check.typeError('groups', 'an iterable of group names', value);
  }
  const names = new Set<string>();
  let i = 0;
  for (const name of value as Iterable<unknown>) {
    names.add(groupName(`groups[${i}]`, name));
    i += 1;
  }
  return [...names];
}

export function groupsLimit(value: unknown): number {
  const opts = check.options('opts', value, ['limit']);
  return opts.limit === undefined ? 100 : check.integerIn('opts.limit', opts.limit, 1, 10_000);
}

/** The `limit` busiest groups: most items waiting and out first, then the oldest head, then by name. */
export function busiest(groups: readonly RawGroup[], limit: number): GroupStats[] {
  return [...groups]
    .sort(
      (a, b) =>
        b.depth + b.inflight - (a.depth + a.inflight) ||
        b.headAgeMs - a.headAgeMs ||
        (a.group < b.group ? -1 : a.group > b.group ? 1 : 0),
    )
    .slice(0, limit)
    .map(({ group, state, depth, inflight, headAgeMs }) => ({
      group,
      state,
      depth,
      inflight,
      oldestAge: headAgeMs < 0 ? 0 : headAgeMs / 1000,
    }));
}
