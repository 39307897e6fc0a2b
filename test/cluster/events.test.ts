import { afterEach, describe, expect, it } from 'vitest';
import type { Cluster, Redis } from 'ioredis';
import { Visq } from '../../src/index.js';
import { readyMasters } from '../harness/cluster.js';
import { useStore } from '../harness/context.js';
import { until } from '../tasks/helpers.js';
import { clusterOf } from './helpers.js';

/**
 * Task events travel by pub/sub, which loses what is published while a subscriber is
 * away. ioredis's own Cluster subscriber moves to another node without any event when its
 * connection drops, so visq keeps its own event connection to one node and, after every
 * reconnection, tells waiters to read their task again (src/stores/redis/event-feed.ts). This
 * kills that connection while an event is published and checks the waiter still wakes.
 */
const ctx = useStore();
const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

// Far longer than the test may run: only the event can end the wait in time.
const LONG_WAIT = 60;
const IN_TIME = 5_000;

/** visq's task-event connections of the clients named `name`, with their node. */
async function subscriberConnections(client: Cluster, name: string): Promise<{ node: Redis; id: string }[]> {
  const found: { node: Redis; id: string }[] = [];
  for (const node of await readyMasters(client)) {
    for (const line of ((await node.client('LIST')) as string).split('\n')) {
      const id = /^id=(\d+)/.exec(line)?.[1];
      if (id && line.includes(` name=${name}:visq-events `) && / sub=[1-9]/.test(line)) found.push({ node, id });
    }
  }
  return found;
}

describe('task events on a Redis Cluster', () => {
  it('wake a waiter whose subscription was lost while the event was published', async () => {
    const name = `events-${ctx.prefix}`;
    // a client of its own, named so that its subscriber connection can be found
    const client = clusterOf(ctx).duplicate([], { redisOptions: { connectionName: name } });
    const app = new Visq({ redis: client, prefix: ctx.prefix });
    const waitAborted = new AbortController();
    cleanups.push(async () => {
      waitAborted.abort();
      await app.close();
      client.disconnect();
    });
    const job = app.task('job', () => 1);
    const et = await job.execute([], { delay: 3600 });
    const waiting = et.wait(LONG_WAIT, { signal: waitAborted.signal });
    await until('the waiter has subscribed', async () => (await subscriberConnections(client, name)).length > 0);

    for (const { node, id } of await subscriberConnections(client, name)) await node.client('KILL', 'ID', id);
    // published before ioredis can have subscribed again (that takes a connect, a ready check and a SUBSCRIBE)
    expect(await et.cancel()).toBe(true);
    expect(await waiting).toBe(true);
  }, IN_TIME);
});
