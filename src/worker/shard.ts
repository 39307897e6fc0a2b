/**
 * Worker sharding: a fleet of M workers splits its queues without talking to each other.
 * Each queue belongs to exactly one machine, picked by a hash of the queue name that every
 * process computes the same way, whatever its platform, Node version or start order.
 */
import * as check from '../validate.js';

/** Most machines a fleet can be split into. */
export const MAX_MACHINES = 10_000;

/** Which part of a fleet a worker is: machine `machine` (1-based) of `of`. */
export interface ShardOptions {
  /** This worker's machine number, an integer from 1 to `of`. */
  machine: number;
  /** How many machines the queues are split across, an integer from 1 to 10000. */
  of: number;
}

const utf8 = new TextEncoder();

/**
 * FNV-1a, 32 bits, over the UTF-8 bytes of `text`. Chosen because it is tiny, has no
 * dependency, and is specified byte by byte, so any language can reproduce an assignment.
 */
export function fnv1a32(text: string): number {
  let hash = 0x811c9dc5;
  for (const byte of utf8.encode(text)) {
    hash ^= byte;
    // Math.imul keeps the multiply exact in 32 bits, where a float multiply would round
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/**
 * The machine (1 to `of`) that serves `queue` in a fleet of `of`: FNV-1a 32-bit of the
 * queue name's UTF-8 bytes, modulo `of`, plus one.
 * @throws TypeError / RangeError for a bad argument.
 */
export function shardOf(queue: string, of: number): number {
  check.text('queue', queue, { maxLength: 256 });
  check.integerIn('of', of, 1, MAX_MACHINES);
  return machineOf(queue, of);
}

function machineOf(queue: string, of: number): number {
  return (fnv1a32(queue) % of) + 1;
}

/** Checks a `shard` option: `of` from 1 to 10000, `machine` from 1 to `of`. */
export function shardSettings(name: string, value: unknown): Readonly<ShardOptions> {
  const opts = check.options(name, value, ['machine', 'of']);
  const of = check.integerIn(`${name}.of`, opts.of, 1, MAX_MACHINES);
  const machine = check.integerIn(`${name}.machine`, opts.machine, 1, of);
  return Object.freeze({ machine, of });
}

/** The queues of `queues` that machine `shard.machine` of `shard.of` serves, in their order. */
export function shardQueues(queues: readonly string[], shard: ShardOptions): string[] {
  return queues.filter((queue) => machineOf(queue, shard.of) === shard.machine);
}
