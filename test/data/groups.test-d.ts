import { describe, expectTypeOf, it } from 'vitest';
import { DataQueue, MemoryStore, type GroupOption, type GroupQueueOptions, type GroupStats, type GroupsOptions } from '../../src/index.js';

interface Order {
  readonly customerId: string;
  readonly total: number;
}

describe('ordered group types', () => {
  it('types the group function by the item type', () => {
    const queue = new DataQueue<Order>(new MemoryStore(), 'orders', { visTimeout: 30, useDead: true, groups: { onDead: 'block' } });
    expectTypeOf(queue.putData).parameter(1).exclude<undefined>().toHaveProperty('group').toEqualTypeOf<GroupOption<Order> | undefined>();
    // @ts-expect-error the group function gets an Order, which has no `id`
    void queue.putData([], { group: (order) => order.id });
    // @ts-expect-error a group function returns a string
    void queue.putData([], { group: (order) => order.total });
    expectTypeOf(queue.groups()).toEqualTypeOf<Promise<GroupStats[]>>();
    expectTypeOf(queue.groups).parameter(0).toEqualTypeOf<GroupsOptions | undefined>();
    expectTypeOf(queue.unblockGroups(['a'])).toEqualTypeOf<Promise<number>>();
  });

  it('exports the option and result shapes', () => {
    expectTypeOf<GroupQueueOptions>().toEqualTypeOf<{ onDead?: 'skip' | 'block' }>();
    expectTypeOf<GroupsOptions>().toEqualTypeOf<{ limit?: number }>();
    expectTypeOf<GroupStats>().toEqualTypeOf<{
      readonly group: string;
      readonly state: 'ready' | 'held' | 'blocked' | 'idle';
      readonly depth: number;
      readonly inflight: number;
      readonly oldestAge: number;
    }>();
  });
});
