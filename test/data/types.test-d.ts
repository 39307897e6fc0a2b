import type { Cluster, Redis } from 'ioredis';
import { describe, expectTypeOf, it } from 'vitest';
import {
  DataQueue,
  MemoryStore,
  type DataQueueOptions,
  type Delivery,
  type DoneOptions,
  type FailOptions,
  type GetOptions,
  type GroupOption,
  type GroupQueueOptions,
  type ItemInfo,
  type PutOptions,
  type QueueStats,
  type RateLimit,
  type RefreshOptions,
  type ReleaseOptions,
  type ReleaseResult,
  type SqlClient,
  type StoreLike,
} from '../../src/index.js';

declare const redis: Redis;
declare const cluster: Cluster;

interface Job {
  n: number;
}

const dq = new DataQueue<Job>(redis, 'jobs', { visTimeout: 30 });

describe('DataQueue<T>', () => {
  it('accepts an ioredis Redis or Cluster, or a MemoryStore', () => {
    expectTypeOf(redis).toExtend<StoreLike>();
    expectTypeOf(cluster).toExtend<StoreLike>();
    expectTypeOf(new MemoryStore()).toExtend<StoreLike>();
    expectTypeOf(new DataQueue(cluster, 'q')).toEqualTypeOf<DataQueue<unknown>>();
    expectTypeOf(new DataQueue<Job>(new MemoryStore(), 'q')).toEqualTypeOf<DataQueue<Job>>();
  });

  it('reads items of type T, keyed by lease', () => {
    expectTypeOf(dq.getData()).toEqualTypeOf<Promise<Map<string, Job>>>();
    expectTypeOf(dq.getData(10, { visTimeout: 5, wait: 1 })).toEqualTypeOf<Promise<Map<string, Job>>>();
    expectTypeOf(dq.peekData(5)).toEqualTypeOf<Promise<Map<string, Job>>>();
  });

  it('gives deliveries of T', () => {
    expectTypeOf(dq.getDeliveries(10)).toEqualTypeOf<Promise<Delivery<Job>[]>>();
    expectTypeOf<Delivery<Job>>().toEqualTypeOf<{
      readonly lease: string;
      readonly id: string;
      readonly delivery: number;
      readonly item: Job;
    }>();
  });

  it('puts only items of type T and returns their ids', () => {
    expectTypeOf(dq.putData([{ n: 1 }])).toEqualTypeOf<Promise<string[]>>();
    const readonlyJobs: readonly Job[] = [{ n: 1 }];
    expectTypeOf(dq.putData(readonlyJobs, { delay: 1, priority: 2, ttl: 3 })).toEqualTypeOf<Promise<string[]>>();
    // @ts-expect-error a property of the wrong type
    void dq.putData([{ n: 'one' }]);
    // @ts-expect-error a missing property
    void dq.putData([{}]);
    // @ts-expect-error not an array
    void dq.putData({ n: 1 });
    // @ts-expect-error an unknown option
    void dq.putData([{ n: 1 }], { delai: 1 });
  });

  it('takes leases as any iterable of strings or the Map from getData', async () => {
    const items = await dq.getData(10);
    expectTypeOf(dq.doneData(items)).toEqualTypeOf<Promise<number>>();
    expectTypeOf(dq.doneData(['lease'])).toEqualTypeOf<Promise<number>>();
    expectTypeOf(dq.refreshData(new Set(items.keys()), { visTimeout: 10 })).toEqualTypeOf<Promise<Set<string>>>();
    expectTypeOf(dq.releaseData(items.keys(), { delay: 1, countDelivery: false })).toEqualTypeOf<
      Promise<ReleaseResult>
    >();
    expectTypeOf(dq.failData(items, { useDead: true })).toEqualTypeOf<Promise<Set<string>>>();
    // @ts-expect-error leases are strings
    void dq.doneData([1, 2]);
  });

  it('inspects one item of type T', () => {
    expectTypeOf(dq.inspect('id')).toEqualTypeOf<Promise<ItemInfo<Job> | undefined>>();
    expectTypeOf<ItemInfo<Job>['item']>().toEqualTypeOf<Job>();
    expectTypeOf<ItemInfo<Job>['state']>().toEqualTypeOf<'ready' | 'delayed' | 'inflight' | 'dead'>();
  });

  it('has a dead-letter queue of the same item type', () => {
    expectTypeOf(dq.dead).toEqualTypeOf<DataQueue<Job>>();
    expectTypeOf(dq.dead.getData()).toEqualTypeOf<Promise<Map<string, Job>>>();
    expectTypeOf(dq.redrive()).toEqualTypeOf<Promise<number>>();
  });

  it('returns stats, and nothing from clear and close', () => {
    expectTypeOf(dq.stats()).toEqualTypeOf<Promise<QueueStats>>();
    expectTypeOf(dq.clear()).toEqualTypeOf<Promise<void>>();
    expectTypeOf(dq.close()).toEqualTypeOf<Promise<void>>();
    expectTypeOf(DataQueue.itemId).toEqualTypeOf<(lease: string) => string>();
  });

  it('defaults T to unknown', () => {
    const untyped = new DataQueue(redis, 'q');
    expectTypeOf(untyped.getData()).toEqualTypeOf<Promise<Map<string, unknown>>>();
  });
});

describe('option and result types', () => {
  it('are exported with their documented fields', () => {
    expectTypeOf<DataQueueOptions>().toEqualTypeOf<{
      visTimeout?: number;
      attempts?: number;
      useDead?: boolean;
      prefix?: string;
      maxItemBytes?: number;
      rateLimit?: RateLimit;
      maxInflight?: number;
      groups?: GroupQueueOptions;
    }>();
    expectTypeOf<PutOptions>().toEqualTypeOf<{
      delay?: number;
      priority?: number;
      ttl?: number;
      db?: SqlClient;
      group?: GroupOption<unknown>;
    }>();
    expectTypeOf<DoneOptions>().toEqualTypeOf<{ db?: SqlClient }>();
    expectTypeOf<GetOptions>().toEqualTypeOf<{ visTimeout?: number; wait?: number; signal?: AbortSignal }>();
    expectTypeOf<RefreshOptions>().toEqualTypeOf<{ visTimeout?: number }>();
    expectTypeOf<ReleaseOptions>().toEqualTypeOf<{ delay?: number; countDelivery?: boolean }>();
    expectTypeOf<FailOptions>().toEqualTypeOf<{ useDead?: boolean }>();
    expectTypeOf<QueueStats>().toEqualTypeOf<{
      readonly ready: number;
      readonly delayed: number;
      readonly inflight: number;
      readonly dead: number;
      readonly expired: number;
      readonly dropped: number;
      readonly puts: number;
      readonly deliveries: number;
      readonly dones: number;
      readonly expiries: number;
      readonly deadLettered: number;
      readonly emptyReads: number;
      readonly headAge: number;
    }>();
    expectTypeOf<ReleaseResult>().toEqualTypeOf<{
      readonly requeued: Set<string>;
      readonly exhausted: Set<string>;
    }>();
  });

  it('reject unknown options at compile time', () => {
    // @ts-expect-error a typo in an option name
    void new DataQueue(redis, 'q', { visTimout: 5 });
    // @ts-expect-error wait belongs to getData
    void dq.refreshData([], { wait: 1 });
  });
});
