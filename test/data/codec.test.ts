import { describe, expect, it } from 'vitest';
import { decodeItem, encodeItem } from '../../src/data/codec.js';
import { collectLeases, groupArgs, leaseOf, parseLease } from '../../src/data/lease.js';
import { CorruptRecordError, VisqRangeError, VisqTypeError } from '../../src/errors.js';

const MB = 1024 * 1024;

function thrown(call: () => unknown): unknown {
  try {
    call();
  } catch (error) {
    return error;
  }
  return undefined;
}

describe('encodeItem', () => {
  it.each([
    null,
    true,
    0,
    -1.5,
    Number.MAX_SAFE_INTEGER,
    '',
    'ünï 🚀',
    [],
    {},
    [1, 'a', null, [true]],
    { a: { b: [1, { c: 'd' }] } },
  ])('returns the JSON text of %j', (item) => {
    expect(encodeItem(item, 'item', MB)).toBe(JSON.stringify(item));
  });

  it('accepts the same object twice when it does not contain itself', () => {
    const shared = { n: 1 };
    expect(encodeItem([shared, { again: shared }], 'item', MB)).toBe('[{"n":1},{"again":{"n":1}}]');
  });

  it('accepts an object without a prototype', () => {
    const bare = Object.assign(Object.create(null) as object, { a: 1 });
    expect(encodeItem(bare, 'item', MB)).toBe('{"a":1}');
  });

  it('checks an object with toJSON by the form it chooses', () => {
    const when = new Date(Date.UTC(2024, 0, 2));
    expect(encodeItem({ when }, 'item', MB)).toBe('{"when":"2024-01-02T00:00:00.000Z"}');
    expect(encodeItem({ toJSON: () => ({ ok: 1 }) }, 'item', MB)).toBe('{"ok":1}');
    expect(thrown(() => encodeItem({ toJSON: () => 1n }, 'item', MB))).toBeInstanceOf(VisqTypeError);
  });

  const cycle: Record<string, unknown> = {};
  cycle.inner = { back: cycle };

  it.each([
    { label: 'undefined', item: undefined, path: 'item' },
    { label: 'a function', item: { f: () => 1 }, path: 'item.f' },
    { label: 'a symbol', item: [Symbol('s')], path: 'item[0]' },
    { label: 'a BigInt', item: { n: 10n }, path: 'item.n' },
    { label: 'NaN', item: [1, NaN], path: 'item[1]' },
    { label: 'Infinity', item: { x: Infinity }, path: 'item.x' },
    { label: 'a cycle', item: cycle, path: 'item.inner.back' },
    { label: 'a hole', item: [0, , 2], path: 'item[1]' },
    { label: 'a Map', item: { m: new Map() }, path: 'item.m' },
    { label: 'a Set', item: new Set([1]), path: 'item' },
    { label: 'a RegExp', item: /x/, path: 'item' },
    { label: 'a symbol key', item: { [Symbol('k')]: 1 }, path: 'item' },
  ])('refuses $label with a VisqTypeError naming its path', ({ item, path }) => {
    const error = thrown(() => encodeItem(item, 'item', MB));
    expect(error).toBeInstanceOf(VisqTypeError);
    expect(error).toBeInstanceOf(TypeError);
    expect((error as Error).message).toContain(`\`${path}\``);
  });

  it('counts bytes of UTF-8, exactly at the limit', () => {
    // '"€"' is 1 + 3 + 1 bytes
    expect(encodeItem('€', 'item', 5)).toBe('"€"');
    const error = thrown(() => encodeItem('€', 'item', 4));
    expect(error).toBeInstanceOf(VisqRangeError);
    expect((error as Error).message).toBe('Expected `item` to encode to at most 4 bytes of JSON, got 5 bytes');
  });

  it('counts a character outside the BMP as four bytes', () => {
    expect(encodeItem('🚀', 'item', 6)).toBe('"🚀"');
    expect(thrown(() => encodeItem('🚀', 'item', 5))).toBeInstanceOf(VisqRangeError);
  });
});

describe('decodeItem', () => {
  it('gives back what encodeItem wrote', () => {
    const item = { a: [1, '€', null], b: { c: true } };
    expect(decodeItem(encodeItem(item, 'item', MB), 'id-1')).toEqual(item);
  });

  it('throws CorruptRecordError, with the parse error as cause, for text that is not JSON', () => {
    const error = thrown(() => decodeItem('{nope', 'id-1'));
    expect(error).toBeInstanceOf(CorruptRecordError);
    expect(error).toHaveProperty('code', 'ERR_VISQ_CORRUPT');
    expect((error as Error).message).toContain('id-1');
    expect((error as CorruptRecordError).cause).toBeInstanceOf(SyntaxError);
  });
});

describe('parseLease', () => {
  it('splits a lease at its last colon', () => {
    expect(parseLease('abc-1:42')).toEqual({ id: 'abc-1', entry: '42' });
    expect(parseLease('a:b:7')).toEqual({ id: 'a:b', entry: '7' });
  });

  it('round-trips leaseOf', () => {
    expect(parseLease(leaseOf('gen-9', '12'))).toEqual({ id: 'gen-9', entry: '12' });
  });

  it.each(['', 'abc', ':1', 'a:', 'a:x', 'a:1.5', 'a:-1', 'a: 1', `a:${'1'.repeat(17)}`, 'a:1\n'])(
    'returns undefined for %j',
    (text) => {
      expect(parseLease(text)).toBeUndefined();
    },
  );
});

describe('collectLeases', () => {
  it('groups leases by entry, in first-seen order, without duplicates', () => {
    expect(collectLeases('leases', ['a:1', 'b:2', 'c:1', 'a:1', 'd:2'])).toEqual([
      { entry: '1', ids: ['a', 'c'] },
      { entry: '2', ids: ['b', 'd'] },
    ]);
  });

  it('leaves out malformed strings', () => {
    expect(collectLeases('leases', ['', 'x', ':1', 'a:b', 'ok:3'])).toEqual([{ entry: '3', ids: ['ok'] }]);
  });

  it('takes the keys of a Map, a Set, a generator or an iterator', () => {
    const expected = [{ entry: '1', ids: ['a', 'b'] }];
    function* generate(): Generator<string> {
      yield 'a:1';
      yield 'b:1';
    }
    expect(collectLeases('leases', new Map([['a:1', 1], ['b:1', 2]]))).toEqual(expected);
    expect(collectLeases('leases', new Set(['a:1', 'b:1']))).toEqual(expected);
    expect(collectLeases('leases', generate())).toEqual(expected);
    expect(collectLeases('leases', ['a:1', 'b:1'].values())).toEqual(expected);
  });

  it('returns no groups for nothing', () => {
    expect(collectLeases('leases', [])).toEqual([]);
  });

  it.each([undefined, null, 42, 'a:1', {}, true])('throws a VisqTypeError naming the argument for %j', (value) => {
    const error = thrown(() => collectLeases('leases', value));
    expect(error).toBeInstanceOf(VisqTypeError);
    expect((error as Error).message).toContain('`leases`');
  });

  it('throws a VisqTypeError naming the position of a value that is not a string', () => {
    const error = thrown(() => collectLeases('leases', ['a:1', 'b:1', 7]));
    expect(error).toBeInstanceOf(VisqTypeError);
    expect((error as Error).message).toBe('Expected `leases[2]` to be a lease string, got 7 (number)');
  });
});

describe('groupArgs', () => {
  it('lays out the group count, then entry, n and ids per group', () => {
    expect(groupArgs([{ entry: '1', ids: ['a', 'b'] }, { entry: '5', ids: ['c'] }])).toEqual([
      '2',
      '1',
      '2',
      'a',
      'b',
      '5',
      '1',
      'c',
    ]);
  });
});
