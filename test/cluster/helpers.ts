/**
 * What the cluster suites share: the file's client as a `Cluster`, which master serves a
 * queue, and the CROSSSLOT errors the masters have answered so far.
 */
import { Cluster } from 'ioredis';
import { queueBase } from '../../src/data/keys.js';
import { queueKey } from '../../src/stores/redis/keys.js';
import { readyMasters } from '../harness/cluster.js';
import type { StoreContext } from '../harness/context.js';

/** The file's client; these suites run only with VISQ_TEST_STORE=cluster. */
export function clusterOf(ctx: StoreContext): Cluster {
  const client = ctx.redis;
  if (!(client instanceof Cluster)) throw new Error('test/cluster runs only with VISQ_TEST_STORE=cluster');
  return client;
}

/** `host:port` of the master serving each slot, from `CLUSTER SLOTS`. */
export async function slotOwners(client: Cluster): Promise<(slot: number) => string> {
  const ranges = await client.cluster('SLOTS');
  return (slot) => {
    const master = ranges.find(([from, to]) => from <= slot && slot <= to)?.[2];
    if (!master) throw new Error(`No master serves slot ${slot}`);
    return `${master[0]}:${master[1]}`;
  };
}

/** The slot of queue `name`: the slot of its `meta` key, as Redis computes it. */
export async function queueSlot(client: Cluster, prefix: string, name: string): Promise<number> {
  return Number(await client.cluster('KEYSLOT', queueKey(queueBase(prefix, name), 'meta')));
}

/** `host:port` of every master the client knows. */
export async function masterAddresses(client: Cluster): Promise<string[]> {
  return (await readyMasters(client)).map((node) => `${node.options.host}:${node.options.port}`).sort();
}

/** CROSSSLOT errors answered so far, per master (`INFO errorstats`, Redis 6.2+). */
export async function crossSlotErrors(client: Cluster): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const node of await readyMasters(client)) {
    const stats = await node.info('errorstats');
    counts[`${node.options.host}:${node.options.port}`] = Number(/^errorstat_CROSSSLOT:count=(\d+)/m.exec(stats)?.[1] ?? 0);
  }
  return counts;
}
