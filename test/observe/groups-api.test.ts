/** The dashboard's answer for a queue with ordered groups: its busiest groups (docs/groups.md). */
import { describe, expect, it } from 'vitest';
import { useStore } from '../harness/context.js';
import { useQueues } from '../harness/queues.js';
import { send, useDashboards } from './helpers.js';

const ctx = useStore();
const open = useQueues(ctx);
const dashboard = useDashboards(ctx);

describe('dashboard API: ordered groups', () => {
  it('gives the busiest groups of a queue, and none for a queue without groups', async () => {
    ctx.freeze(Date.now());
    const queue = open<{ c: string }>('orders', { visTimeout: 30 });
    await queue.putData([{ c: 'a' }, { c: 'a' }, { c: 'b' }, { c: 'a' }], { group: (e) => e.c });
    await queue.getData(1);
    await open('plain').putData([1]);
    const { origin } = await dashboard();
    const body = (await send(`${origin}/api/queues/orders`)).json<{ groups: unknown[] }>();
    expect(body.groups).toEqual([
      { group: 'a', state: 'held', depth: 2, inflight: 1, oldestAge: 0 },
      { group: 'b', state: 'ready', depth: 1, inflight: 0, oldestAge: 0 },
    ]);
    expect((await send(`${origin}/api/queues/plain`)).json<{ groups: unknown[] }>().groups).toEqual([]);
  });
});
