import { describe, expect, it } from 'vitest';
import { listQueues } from '../../src/index.js';
import { useStore } from '../harness/context.js';
import { useQueues } from '../harness/queues.js';
import { fullStats } from '../harness/stats.js';

const ctx = useStore();
const open = useQueues(ctx);

describe('stats() running totals', () => {
  it('count puts, deliveries and dones, one count per item', async () => {
    const queue = open<number>('q', { visTimeout: 10 });
    await queue.putData([1, 2, 3]);
    await queue.putData([4]);
    const batch = await queue.getData(3);
    await queue.doneData([...batch.keys()].slice(0, 2));
    expect(await queue.stats()).toMatchObject({ puts: 4, deliveries: 3, dones: 2 });
  });

  it('count expiries and dead letters when leases run out', async () => {
    ctx.freeze(Date.now());
    const queue = open<string>('q', { visTimeout: 1, attempts: 2, useDead: true });
    await queue.putData(['a', 'b']);
    await queue.getData(2);
    ctx.advance(2);
    await queue.getData(2); // a and b again: two expiries
    ctx.advance(2);
    // two more expiries, and the attempts are spent: two dead letters
    expect(fullStats(await queue.stats())).toMatchObject({ deliveries: 4, expiries: 4, deadLettered: 2, dead: 2 });
  });

  it('count reads that found nothing, once the queue exists', async () => {
    const queue = open('q');
    await queue.getData(1); // no queue yet: nothing counted, nothing written
    expect(await ctx.snapshot()).toEqual({});
    await queue.putData(['x']);
    await queue.getData(1);
    await queue.getData(1);
    await queue.getData(1);
    expect(await queue.stats()).toMatchObject({ emptyReads: 2, deliveries: 1 });
  });

  it('start again at zero after clear()', async () => {
    const queue = open('q');
    await queue.putData(['x']);
    await queue.getData(1);
    await queue.clear();
    expect(fullStats(await queue.stats())).toMatchObject({ puts: 0, deliveries: 0, emptyReads: 0 });
  });

  it('give the age of the next item a read would deliver, as of when it was put', async () => {
    const t0 = Date.now();
    ctx.freeze(t0);
    const queue = open<string>('q', { visTimeout: 5 });
    expect((await queue.stats()).headAge).toBe(0);
    await queue.putData(['old']);
    ctx.freeze(t0 + 3000);
    await queue.putData(['new']);
    ctx.freeze(t0 + 4500);
    expect((await queue.stats()).headAge).toBe(4.5);
    await queue.getData(1);
    // 'new' is next now
    expect((await queue.stats()).headAge).toBe(1.5);
  });

  it('are part of the JSON and console forms, though not own enumerable fields', async () => {
    const queue = open('q');
    await queue.putData(['x']);
    const stats = await queue.stats();
    expect(Object.keys(stats)).toEqual(['ready', 'delayed', 'inflight', 'dead']);
    expect(JSON.parse(JSON.stringify(stats))).toMatchObject({ ready: 1, puts: 1, headAge: expect.any(Number) });
  });
});

describe('listQueues', () => {
  it('lists the queues that have had a put, sorted, without their dead-letter queues', async () => {
    await open('mail', { useDead: true }).putData(['m']);
    const jobs = open('jobs', { visTimeout: 1, useDead: true });
    await jobs.putData(['j']);
    await jobs.dead.putData(['poison']);
    open('never-used');
    expect(await listQueues(ctx.store, { prefix: ctx.prefix })).toEqual(['jobs', 'mail']);
  });

  it('forgets a queue when it is cleared, and lists it again after its next put', async () => {
    const queue = open('q');
    await queue.putData(['x']);
    await queue.clear();
    expect(await listQueues(ctx.store, { prefix: ctx.prefix })).toEqual([]);
    await queue.putData(['y']);
    expect(await listQueues(ctx.store, { prefix: ctx.prefix })).toEqual(['q']);
  });

  it('keeps prefixes apart and checks its arguments', async () => {
    await open('a').putData([1]);
    await open('b', {}, ctx.store).putData([1]);
    expect(await listQueues(ctx.store, { prefix: `${ctx.prefix}-other` })).toEqual([]);
    await expect(listQueues(ctx.store, { prefix: 'x{y' })).rejects.toThrow(RangeError);
    // @ts-expect-error an unknown option
    await expect(listQueues(ctx.store, { prefx: 'x' })).rejects.toThrow(TypeError);
  });
});
