import { afterEach, describe, expect, it } from 'vitest';
import { DataQueue } from '../../src/index.js';
import { readyMasters } from '../harness/cluster.js';
import { useStore } from '../harness/context.js';
import { clusterOf, masterAddresses, queueSlot, slotOwners } from './helpers.js';

const ctx = useStore();
const opened: DataQueue<unknown>[] = [];

afterEach(async () => {
  await Promise.all(opened.splice(0).map((queue) => queue.close()));
});

describe('queues on a Redis Cluster of three masters', () => {
  it('spread over every master, each queue with all its keys in one slot on the master of that slot', async () => {
    const client = clusterOf(ctx);
    const names = Array.from({ length: 64 }, (_, i) => `queue-${i}`);
    for (const name of names) {
      const queue = new DataQueue<string>(client, name, { prefix: ctx.prefix, visTimeout: 30, useDead: true });
      opened.push(queue as DataQueue<unknown>);
      await queue.putData(['a', 'b']);
      // a dead letter, so that the dead-letter queue's keys exist too
      await queue.failData(await queue.getData(1));
    }

    const ownerOf = await slotOwners(client);
    const expected = new Map<string, string>();
    for (const name of names) expected.set(`{${ctx.prefix}:${name}}`, ownerOf(await queueSlot(client, ctx.prefix, name)));

    // where the keys really are: each master's own keyspace
    const found = new Map<string, Set<string>>();
    const slots = new Map<string, Set<number>>();
    for (const node of await readyMasters(client)) {
      const address = `${node.options.host}:${node.options.port}`;
      for await (const keys of node.scanStream({ match: `{${ctx.prefix}:*`, count: 1000 }) as AsyncIterable<string[]>) {
        for (const key of keys) {
          const tag = key.slice(0, key.indexOf('}') + 1);
          const slot = Number(await node.cluster('KEYSLOT', key));
          expect(ownerOf(slot)).toBe(address);
          found.set(tag, (found.get(tag) ?? new Set()).add(address));
          slots.set(tag, (slots.get(tag) ?? new Set()).add(slot));
        }
      }
    }
    expect([...found.keys()].sort()).toEqual([...expected.keys()].sort());
    for (const [tag, addresses] of found) expect([...addresses]).toEqual([expected.get(tag)]);
    for (const queueSlots of slots.values()) expect(queueSlots.size).toBe(1);

    const perMaster = new Map<string, number>((await masterAddresses(client)).map((address) => [address, 0]));
    for (const address of expected.values()) perMaster.set(address, (perMaster.get(address) ?? 0) + 1);
    console.log(
      `64 queues per master: ${[...perMaster].map(([address, n]) => `${address} ${n}`).join(', ')}`,
    );
    expect(perMaster.size).toBe(3);
    for (const n of perMaster.values()) expect(n).toBeGreaterThan(0);
  });
});
