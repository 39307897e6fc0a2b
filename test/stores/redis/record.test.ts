import { describe, expect, it } from 'vitest';
import { CorruptRecordError } from '../../../src/errors.js';
import { parseRecord } from '../../../src/stores/redis/record.js';

function thrown(call: () => unknown): unknown {
  try {
    call();
  } catch (error) {
    return error;
  }
  return undefined;
}

describe('parseRecord', () => {
  it('splits seq|id|deliveries|priority|ttl|payload, keeping pipes in the payload', () => {
    expect(parseRecord('0000000000000001|g-1|2|-5|0|"a|b"')).toEqual({
      id: 'g-1',
      deliveries: 2,
      priority: -5,
      payload: '"a|b"',
    });
  });

  it('throws CorruptRecordError for a record with missing fields', () => {
    expect(thrown(() => parseRecord('0001|g-1|2'))).toBeInstanceOf(CorruptRecordError);
  });
});
