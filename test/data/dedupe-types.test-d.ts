import type { Redis } from 'ioredis';
import { describe, expectTypeOf, it } from 'vitest';
import { DataQueue, Visq, type DedupeHolder, type DedupeOptions, type PutResult } from '../../src/index.js';

declare const redis: Redis;

interface Order {
  orderId: string;
}

const dq = new DataQueue<Order>(redis, 'orders');

describe('putData with dedupe', () => {
  it('returns ids without dedupe, PutResult[] with it', () => {
    expectTypeOf(dq.putData([{ orderId: 'a' }])).toEqualTypeOf<Promise<string[]>>();
    expectTypeOf(dq.putData([{ orderId: 'a' }], { delay: 1 })).toEqualTypeOf<Promise<string[]>>();
    expectTypeOf(dq.putData([{ orderId: 'a' }], { dedupe: { key: (o) => o.orderId, window: 300 } })).toEqualTypeOf<Promise<PutResult[]>>();
    expectTypeOf(dq.putData([{ orderId: 'a' }], { dedupe: { key: 'content', until: 'done' } })).toEqualTypeOf<Promise<PutResult[]>>();
    const options: { dedupe: DedupeOptions<Order> } = { dedupe: { key: (o) => o.orderId } };
    expectTypeOf(dq.putData([], options)).toEqualTypeOf<Promise<PutResult[]>>();
    expectTypeOf<PutResult>().toEqualTypeOf<{ readonly id: string; readonly duplicate: boolean }>();
  });

  it('types the key function by the item type, and refuses unknown modes', () => {
    // @ts-expect-error an Order has no `id`
    void dq.putData([{ orderId: 'a' }], { dedupe: { key: (o) => o.id } });
    // @ts-expect-error a key is a string
    void dq.putData([{ orderId: 'a' }], { dedupe: { key: (o) => o.orderId.length } });
    // @ts-expect-error until is 'window' or 'done'
    void dq.putData([{ orderId: 'a' }], { dedupe: { key: 'content', until: 'forever' } });
  });

  it('inspects keys with dq.dedupe', () => {
    expectTypeOf(dq.dedupe.get('k')).toEqualTypeOf<Promise<DedupeHolder | undefined>>();
    expectTypeOf(dq.dedupe.clear('k')).toEqualTypeOf<Promise<boolean>>();
  });
});

describe('execute with dedupe', () => {
  it('types the key function by the arguments and tells duplicates', async () => {
    const app = new Visq({ redis });
    const add = app.task('add', (a: number, b: number) => a + b);
    void add.execute([1, 2], { dedupe: { key: (args) => `add-${args[0]}-${args[1]}`, window: 60 } });
    // @ts-expect-error the arguments are numbers
    void add.execute([1, 2], { dedupe: { key: (args) => args[0].toUpperCase() } });
    const et = await add.execute([1, 2], { dedupe: { key: 'charge-42', window: 600 } });
    expectTypeOf(et.duplicate).toEqualTypeOf<boolean>();
  });
});
