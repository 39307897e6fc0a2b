/**
 * Worker sharding: the assignment of queues to machines. It must be the same in every
 * process and release (pinned here), give each queue to exactly one machine, and spread
 * many queues evenly.
 */
import { describe, expect, it } from 'vitest';
import { shardOf } from '../../src/index.js';
import { fnv1a32, shardQueues, shardSettings } from '../../src/worker/shard.js';
import { workerSettings } from '../../src/worker/options.js';

const names = (count: number, pattern: (i: number) => string): string[] => Array.from({ length: count }, (_, i) => pattern(i));

describe('fnv1a32', () => {
  it('matches the published FNV-1a 32-bit test vectors', () => {
    expect(fnv1a32('')).toBe(0x811c9dc5);
    expect(fnv1a32('a')).toBe(0xe40c292c);
    expect(fnv1a32('foobar')).toBe(0xbf9cf968);
  });

  it('hashes the UTF-8 bytes of a name, not its UTF-16 code units', () => {
    // "é" is the two bytes c3 a9 in UTF-8
    const byHand = Math.imul(Math.imul(0x811c9dc5 ^ 0xc3, 0x01000193) ^ 0xa9, 0x01000193) >>> 0;
    expect(fnv1a32('é')).toBe(byHand);
  });
});

describe('shardOf', () => {
  it('assigns the same machine in every process and release', () => {
    const queues = ['default', 'emails', 'images', 'reports', 'billing', 'search'];
    expect(queues.map((q) => shardOf(q, 2))).toEqual([1, 1, 2, 1, 1, 2]);
    expect(queues.map((q) => shardOf(q, 3))).toEqual([1, 1, 3, 3, 2, 2]);
    expect(queues.map((q) => shardOf(q, 4))).toEqual([3, 1, 4, 1, 1, 2]);
    expect(shardOf('anything', 1)).toBe(1);
  });

  it('gives every queue to exactly one machine of the fleet', () => {
    const queues = names(500, (i) => `queue-${i}`);
    for (const of of [1, 2, 3, 5, 8, 13]) {
      const machines = Array.from({ length: of }, (_, i) => shardQueues(queues, { machine: i + 1, of }));
      expect(machines.flat().sort()).toEqual([...queues].sort());
      for (const queue of queues) {
        expect(machines.filter((served) => served.includes(queue))).toHaveLength(1);
        expect(machines[shardOf(queue, of) - 1]).toContain(queue);
      }
    }
  });

  it('spreads many queues evenly', () => {
    const patterns: ((i: number) => string)[] = [(i) => `queue-${i}`, (i) => `tenant:${i * 7919}:jobs`, (i) => `q${i}`];
    for (const pattern of patterns) {
      const queues = names(10_000, pattern);
      for (const of of [2, 3, 4, 7, 16]) {
        const counts = Array.from({ length: of }, () => 0);
        for (const queue of queues) counts[shardOf(queue, of) - 1]! += 1;
        const expected = queues.length / of;
        // as even as a random assignment: every machine within 5 standard deviations
        const sigma = Math.sqrt(queues.length * (1 / of) * (1 - 1 / of));
        for (const count of counts) expect(Math.abs(count - expected)).toBeLessThan(5 * sigma);
      }
    }
  });

  it('rejects a bad queue name or fleet size', () => {
    expect(() => shardOf('', 2)).toThrow(RangeError);
    expect(() => shardOf('q', 0)).toThrow('Expected `of` to be an integer from 1 to 10000, got 0 (number)');
    expect(() => shardOf('q', 1.5)).toThrow(RangeError);
  });
});

describe('the shard option', () => {
  it('takes a machine from 1 to `of`', () => {
    expect(workerSettings({ shard: { machine: 2, of: 3 } }).shard).toEqual({ machine: 2, of: 3 });
    expect(workerSettings({}).shard).toBeUndefined();
    expect(shardSettings('shard', { machine: 1, of: 1 })).toEqual({ machine: 1, of: 1 });
  });

  it('rejects machines outside the fleet, in the voice of the other checks', () => {
    expect(() => workerSettings({ shard: { machine: 0, of: 3 } })).toThrow(
      'Expected `options.shard.machine` to be an integer from 1 to 3, got 0 (number)',
    );
    expect(() => workerSettings({ shard: { machine: 4, of: 3 } })).toThrow(RangeError);
    expect(() => workerSettings({ shard: { machine: 1, of: 0 } })).toThrow(
      'Expected `options.shard.of` to be an integer from 1 to 10000, got 0 (number)',
    );
    expect(() => workerSettings({ shard: { of: 3 } })).toThrow(
      'Expected `options.shard.machine` to be an integer from 1 to 3, got undefined',
    );
    expect(() => workerSettings({ shard: { machine: 1, of: 2, index: 0 } })).toThrow(
      'Unknown option `options.shard.index`; known options are `machine`, `of`',
    );
    expect(() => workerSettings({ shard: 2 })).toThrow(TypeError);
  });
});
