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
  it('splits seq|id|deliveries|priority|ttl|meta|payload, keeping pipes in the payload', () => {
    expect(parseRecord('0000000000000001|g-1|2|-5|0||"a|b"')).toEqual({
      id: 'g-1',
      deliveries: 2,
      priority: -5,
      meta: '',
      payload: '"a|b"',
    });
  });

  it('reads the metadata field between the ttl and the payload', () => {
    const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    expect(parseRecord(`0000000000000001|g-1|0|0|0|${traceparent} k=v|{"a":1}`)).toMatchObject({
      meta: `${traceparent} k=v`,
      payload: '{"a":1}',
    });
  });

  it('throws CorruptRecordError for a record with missing fields', () => {
    expect(thrown(() => parseRecord('0001|g-1|2|0|0'))).toBeInstanceOf(CorruptRecordError);
  });
});
