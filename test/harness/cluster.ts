/**
 * Starts a private local Redis Cluster for tests: `masters` (default 3) redis-server
 * processes with `--cluster-enabled yes`, optionally `replicas` per master, joined with
 * `redis-cli --cluster create`, nothing persisted, all in one temporary dir. Never touches
 * a server it did not start: every port is checked free, and a node must answer with the
 * process id of the child we spawned before it counts as ours.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Cluster, Redis, type ClusterOptions } from 'ioredis';
import { stopChild } from './redis-server.js';

const HOST = '127.0.0.1';
const SLOTS = 16384;
/** Redis Cluster's bus listens on the client port + 10000 unless told otherwise. */
const BUS_OFFSET = 10000;
/**
 * Client ports are drawn from here so that both a port and its bus port (up to 31999)
 * stay below Linux's ephemeral range (32768+), where an outgoing connection could take
 * one between our check and the server's bind. 6379/16379 are far outside it.
 */
const PORT_RANGE = { from: 12000, to: 22000 } as const;

/** Sizing of a private cluster. */
export interface ClusterSetup {
  /** Master nodes; default 3 (the least `redis-cli --cluster create` accepts). */
  readonly masters?: number;
  /** Replicas per master; default 0. */
  readonly replicas?: number;
  /**
   * `cluster-node-timeout` in ms; default 5000. A failover needs about this long to
   * notice a dead master, so failover tests lower it; a cluster without replicas keeps
   * it long, as a node deemed failed there takes the whole cluster down until it is back.
   */
  readonly nodeTimeoutMs?: number;
}

/** One node as the cluster sees it (`CLUSTER NODES`). */
export interface ClusterMember {
  readonly id: string;
  readonly port: number;
  readonly role: 'master' | 'replica';
  /** For a replica, the id of its master. */
  readonly masterId: string | undefined;
  /** Slot ranges it serves, inclusive. */
  readonly slots: readonly (readonly [number, number])[];
  /** Flagged `fail` by the cluster. */
  readonly failed: boolean;
}

/** A running private cluster. */
export interface RedisCluster {
  /** Client ports of every node started, in the order given to `redis-cli --cluster create`. */
  readonly ports: readonly number[];
  /** What to hand to `new Cluster(...)`: every node started. */
  readonly startupNodes: readonly { host: string; port: number }[];
  readonly dir: string;
  /** A new Cluster client; closed by `stop()`. */
  client(options?: ClusterOptions): Cluster;
  /** A new client of one node, for node-local commands (INFO, CLIENT LIST); closed by `stop()`. */
  node(port: number): Redis;
  /** The cluster's nodes as a live node sees them. */
  members(): Promise<ClusterMember[]>;
  /** The master that serves `slot` now. */
  masterOfSlot(slot: number): Promise<ClusterMember>;
  /** Kills one node abruptly (SIGKILL by default); it stays down. */
  kill(port: number, signal?: NodeJS.Signals): Promise<void>;
  /**
   * Resolves once the cluster is whole again without the nodes killed: every live node
   * reports `cluster_state:ok`, all agree on which live master serves every slot, killed
   * nodes are flagged `fail`, and every live replica is linked to its master.
   */
  waitUntilHealthy(seconds?: number): Promise<void>;
  /** Stops every node (SIGTERM, then SIGKILL), closes the clients handed out, removes the dir. */
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();
const dirs = new Set<string>();
/** Ports this process picked, so that two clusters of one process never race for one. */
const taken = new Set<number>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function listen(port: number): Promise<Server | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(undefined));
    server.listen(port, HOST, () => resolve(server));
  });
}

function close(server: Server | undefined): Promise<void> {
  return new Promise((resolve) => (server ? server.close(() => resolve()) : resolve()));
}

/** A client port that, with its bus port, was free a moment ago. */
async function freeClusterPort(): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt += 1) {
    const port = PORT_RANGE.from + Math.floor(Math.random() * (PORT_RANGE.to - PORT_RANGE.from));
    if (taken.has(port)) continue;
    // reserved before the check, so that nodes launched side by side never pick one port
    taken.add(port);
    const [client, bus] = await Promise.all([listen(port), listen(port + BUS_OFFSET)]);
    await Promise.all([close(client), close(bus)]);
    if (client && bus) return port;
    taken.delete(port);
  }
  throw new Error(`No free port pair (p, p+${BUS_OFFSET}) found from ${PORT_RANGE.from} to ${PORT_RANGE.to}`);
}

function probe(port: number): Redis {
  const redis = new Redis({ port, host: HOST, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  redis.on('error', () => undefined);
  return redis;
}

/** Resolves once the server on `port` answers and is the process we spawned. */
async function ours(port: number, child: ChildProcess, deadline: number): Promise<void> {
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`redis-server on port ${port} exited at startup (port or bus port ${port + BUS_OFFSET} taken?)`);
    }
    const redis = probe(port);
    try {
      await redis.connect();
      const pid = Number(/^process_id:(\d+)/m.exec(await redis.info('server'))?.[1]);
      if (pid !== child.pid) throw new Error(`port ${port} is served by process ${pid}, not by the one we started`);
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await sleep(20);
    } finally {
      redis.disconnect();
    }
  }
}

async function launchNode(dir: string, nodeTimeoutMs: number): Promise<{ port: number; child: ChildProcess }> {
  for (let attempt = 0; ; attempt += 1) {
    const port = await freeClusterPort();
    const child = spawn(
      'redis-server',
      [
        '--port', String(port),
        '--bind', HOST,
        '--dir', dir,
        '--save', '',
        '--appendonly', 'no',
        '--cluster-enabled', 'yes',
        '--cluster-config-file', `nodes-${port}.conf`,
        '--cluster-node-timeout', String(nodeTimeoutMs),
      ],
      { stdio: 'ignore' },
    );
    running.add(child);
    child.once('exit', () => running.delete(child));
    try {
      await ours(port, child, Date.now() + 5000);
      return { port, child };
    } catch (error) {
      await stopChild(child, 'SIGKILL');
      taken.delete(port);
      if (attempt < 5) continue; // the port was taken between the check and the start
      throw error;
    }
  }
}

function redisCli(args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('redis-cli', args, { timeout: 60_000 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`redis-cli ${args.join(' ')} failed: ${error.message}\n${stdout}${stderr}`));
      else resolve(stdout);
    });
  });
}

/** Parses `CLUSTER NODES`; migrating/importing slot markers (`[slot-<-id]`) are left out. */
export function parseClusterNodes(text: string): ClusterMember[] {
  const members: ClusterMember[] = [];
  for (const line of text.split('\n')) {
    const fields = line.trim().split(' ');
    const [id, address, flagText, master] = fields;
    if (!id || !address || !flagText || !master) continue;
    const flags = flagText.split(',');
    const slots: [number, number][] = [];
    for (const range of fields.slice(8)) {
      if (range.startsWith('[')) continue;
      const [from, to] = range.split('-').map(Number);
      if (from !== undefined) slots.push([from, to ?? from]);
    }
    members.push({
      id,
      port: Number(/:(\d+)@/.exec(address)?.[1]),
      role: flags.includes('master') ? 'master' : 'replica',
      masterId: master === '-' ? undefined : master,
      slots,
      failed: flags.includes('fail'),
    });
  }
  return members;
}

/** Slot ranges served, by port, as `CLUSTER SLOTS` of one node reports them. */
function slotMap(reply: unknown): string {
  const ranges: string[] = [];
  for (const entry of reply as [number, number, [string, number, string], ...unknown[]][]) {
    ranges.push(`${entry[0]}-${entry[1]}@${entry[2][1]}`);
  }
  return ranges.sort().join(' ');
}

function covered(map: string): number {
  let total = 0;
  for (const range of map.split(' ')) {
    const match = /^(\d+)-(\d+)@/.exec(range);
    if (match) total += Number(match[2]) - Number(match[1]) + 1;
  }
  return total;
}

/** The masters a Cluster client is connected to, once it knows them (after its first `ready`). */
export async function readyMasters(client: Cluster): Promise<Redis[]> {
  // before the first `ready` the client knows no node: a loop over none would do nothing
  if (client.status !== 'ready') await new Promise((resolve) => client.once('ready', resolve));
  return client.nodes('master');
}

/** Starts a private cluster; on any failure everything started is stopped before the error. */
export async function startRedisCluster(setup: ClusterSetup = {}): Promise<RedisCluster> {
  const masters = setup.masters ?? 3;
  const replicas = setup.replicas ?? 0;
  const nodeTimeoutMs = setup.nodeTimeoutMs ?? 5000;
  const dir = mkdtempSync(join(tmpdir(), 'visq-cluster-'));
  dirs.add(dir);
  const children = new Map<number, ChildProcess>();
  const killed = new Set<number>();
  const clients = new Set<Cluster | Redis>();

  const stop = async (): Promise<void> => {
    for (const client of clients) client.disconnect();
    clients.clear();
    await Promise.all([...children.values()].map((child) => stopChild(child, 'SIGTERM')));
    for (const port of children.keys()) taken.delete(port);
    rmSync(dir, { recursive: true, force: true });
    dirs.delete(dir);
  };

  const live = (): number[] => [...children.keys()].filter((port) => !killed.has(port));

  /** Runs `fn` on a short-lived connection to `port`. */
  const onNode = async <R>(port: number, fn: (redis: Redis) => Promise<R>): Promise<R> => {
    const redis = probe(port);
    try {
      await redis.connect();
      return await fn(redis);
    } finally {
      redis.disconnect();
    }
  };

  const members = async (): Promise<ClusterMember[]> => {
    let lastError: unknown;
    for (const port of live()) {
      try {
        return parseClusterNodes(await onNode(port, (redis) => redis.cluster('NODES') as Promise<string>));
      } catch (error) {
        lastError = error;
      }
    }
    throw new Error('No live node of the cluster answers', { cause: lastError });
  };

  /** Why the cluster is not healthy yet, or undefined when it is. */
  const unhealthy = async (): Promise<string | undefined> => {
    const maps = new Set<string>();
    for (const port of live()) {
      const problem = await onNode(port, async (redis) => {
        const info = (await redis.cluster('INFO')) as string;
        if (!/^cluster_state:ok/m.test(info)) return `node ${port}: cluster_state is not ok`;
        const view = parseClusterNodes((await redis.cluster('NODES')) as string);
        for (const member of view) {
          if (killed.has(member.port) && !member.failed) return `node ${port} does not see ${member.port} as failed yet`;
          if (!killed.has(member.port) && member.failed) return `node ${port} sees ${member.port} as failed`;
        }
        const me = view.find((member) => member.port === port);
        if (me?.role === 'replica') {
          const replication = await redis.info('replication');
          if (!/^master_link_status:up/m.test(replication)) return `replica ${port} is not linked to its master yet`;
        }
        maps.add(slotMap(await redis.cluster('SLOTS')));
        return undefined;
      });
      if (problem) return problem;
    }
    if (maps.size !== 1) return 'the nodes do not agree on who serves which slot yet';
    const [map = ''] = maps;
    if (covered(map) !== SLOTS) return `only ${covered(map)} of ${SLOTS} slots are served`;
    for (const port of map.split(' ').map((range) => Number(range.split('@')[1]))) {
      if (killed.has(port)) return `slots are still served by the killed node ${port}`;
    }
    return undefined;
  };

  const waitUntilHealthy = async (seconds = 30): Promise<void> => {
    const deadline = Date.now() + seconds * 1000;
    for (;;) {
      let problem: string | undefined;
      try {
        problem = await unhealthy();
      } catch (error) {
        problem = error instanceof Error ? error.message : String(error);
      }
      if (problem === undefined) return;
      if (Date.now() > deadline) throw new Error(`The cluster did not become healthy in ${seconds} s: ${problem}`);
      await sleep(50);
    }
  };

  try {
    const launched = await Promise.all(
      Array.from({ length: masters * (1 + replicas) }, () => launchNode(dir, nodeTimeoutMs)),
    );
    for (const { port, child } of launched) children.set(port, child);
    const ports = launched.map(({ port }) => port);
    await redisCli([
      '--cluster', 'create',
      ...ports.map((port) => `${HOST}:${port}`),
      '--cluster-replicas', String(replicas),
      '--cluster-yes',
    ]);
    await waitUntilHealthy();
    const startupNodes = ports.map((port) => ({ host: HOST, port }));
    return {
      ports,
      startupNodes,
      dir,
      client(options = {}) {
        const client = new Cluster([...startupNodes], options);
        clients.add(client);
        return client;
      },
      node(port) {
        const client = new Redis({ port, host: HOST });
        clients.add(client);
        return client;
      },
      members,
      async masterOfSlot(slot) {
        const master = (await members()).find(
          (member) => member.role === 'master' && !member.failed && member.slots.some(([from, to]) => from <= slot && slot <= to),
        );
        if (!master) throw new Error(`No live master serves slot ${slot}`);
        return master;
      },
      async kill(port, signal = 'SIGKILL') {
        const child = children.get(port);
        if (!child) throw new Error(`Port ${port} is not a node of this cluster`);
        killed.add(port);
        await stopChild(child, signal);
      },
      waitUntilHealthy,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
