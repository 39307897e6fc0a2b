/**
 * visq under least privilege: a Redis ACL user allowed only its key prefix, its task
 * events channels and the commands visq sends (docs/operations.md, "Least privilege").
 * The data queue, the task layer and the read-only CLI commands work end to end as that
 * user, over TCP and over TLS (ioredis `username`, `password` and `tls` options, carried
 * over to the connections visq opens itself); anything outside the prefix is refused
 * with a typed error.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis, type RedisOptions } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../src/cli/run.js';
import { DataQueue, StoreError, Visq } from '../../src/index.js';
import { freePort, startRedisServer, type RedisServer } from '../harness/redis-server.js';
import { selectedKind } from '../harness/store-kind.js';

/**
 * The commands visq sends: the library's own (EVALSHA, EVAL after NOSCRIPT; XREAD for
 * blocking reads; SUBSCRIBE/UNSUBSCRIBE, HGETALL and GET for task waits, statuses and
 * results), the commands its Lua scripts call (Redis checks those against the user too),
 * HSCAN/ZSCAN/LRANGE for `inspect`, SMEMBERS of the queue registry for `visq stats`
 * without a queue, INFO for ioredis's ready check, and PING for `app.ping()`.
 */
const COMMANDS = [
  'evalsha', 'eval', 'xread', 'subscribe', 'unsubscribe', 'hgetall', 'get', 'info',
  'ping', 'time', 'exists', 'del', 'set', 'pexpire', 'publish',
  'hget', 'hmget', 'hset', 'hsetnx', 'hdel', 'hincrby', 'hlen',
  'lpop', 'rpush', 'lrange', 'ltrim', 'llen',
  'zadd', 'zrem', 'zcard', 'zrange', 'zrangebyscore', 'zscore', 'zrangebylex', 'zlexcount', 'zremrangebylex',
  'xadd', 'xrevrange',
  'hscan', 'zscan',
  'sadd', 'srem', 'smembers',
] as const;

/** The ACL rules of a visq user for the key prefix `prefix`, as docs/operations.md gives them. */
function aclRules(prefix: string): string[] {
  return [
    'on',
    'resetkeys',
    'resetchannels',
    `~{${prefix}:*`,
    `~{${prefix}}:queues`,
    `&{${prefix}:*`,
    '-@all',
    ...COMMANDS.map((c) => `+${c}`),
  ];
}

const DOCS = new URL('../../docs/operations.md', import.meta.url);
const SCRIPTS = new URL('../../src/stores/redis/scripts/', import.meta.url);

/** The commands named in the Lua scripts: `redis.call('X'`, and `chunked('X'`, which calls its command. */
function scriptCommands(): Set<string> {
  const found = new Set<string>();
  const files = readdirSync(SCRIPTS, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.lua'));
  for (const file of files) {
    const lua = readFileSync(new URL(file, SCRIPTS), 'utf8');
    for (const match of lua.matchAll(/(?:redis\.p?call|chunked)\(\s*'([A-Za-z]+)'/g)) found.add((match[1] ?? '').toLowerCase());
  }
  return found;
}
const PREFIX = 'app';
const USER = 'visq';
const PASSWORD = 'acl-test-password';

/** A self-signed certificate for 127.0.0.1, or undefined when openssl is missing. */
function selfSigned(dir: string): { cert: string; key: string } | undefined {
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  const made = spawnSync('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
    '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', cert,
  ], { stdio: 'ignore' });
  return made.status === 0 ? { cert, key } : undefined;
}

/** The queue and task round trips, as the user on `options`. */
async function roundTrip(options: RedisOptions): Promise<void> {
  const redis = new Redis(options);
  const queue = new DataQueue<{ n: number }>(redis, 'jobs', { prefix: PREFIX, visTimeout: 30, attempts: 2, useDead: true });
  const app = new Visq({ redis, prefix: PREFIX });
  try {
    await app.ping();
    // a blocking read on visq's own connection, woken by a put
    const waiting = queue.getDeliveries(10, { wait: 10 });
    await new Promise((resolve) => setTimeout(resolve, 50));
    const ids = await queue.putData([{ n: 1 }, { n: 2 }, { n: 3 }]);
    await queue.putData([{ n: 4 }], { delay: 0.01, priority: 5, ttl: 60 });
    const first = await waiting;
    expect(first.length).toBeGreaterThan(0);
    const rest = await queue.getDeliveries(10);
    const all = [...first, ...rest];
    expect((await queue.refreshData(all.map((d) => d.lease))).size).toBe(all.length);
    expect(await queue.doneData([all[0]?.lease ?? ''])).toBe(1);
    await queue.releaseData([all[1]?.lease ?? '']);
    await queue.failData(all.slice(2).map((d) => d.lease));
    expect(await queue.inspect(ids[1] ?? '')).toMatchObject({ state: 'ready' });
    expect((await queue.stats()).dead).toBeGreaterThan(0);
    expect((await queue.dead.peekData(10)).size).toBeGreaterThan(0);
    expect(await queue.redrive()).toBeGreaterThan(0);
    expect((await queue.peekData(10)).size).toBeGreaterThan(0);

    const add = app.task('add', (a: number, b: number) => a + b, { saveResults: 60, visTimeout: 5, attempts: 2 });
    const boom = app.task('boom', () => {
      throw new Error('boom');
    }, { visTimeout: 5, attempts: 2 });
    app.periodicTask('tick', () => 'tick', { every: 3600 });
    const worker = app.worker({ concurrency: 2 });
    const errors: Error[] = [];
    worker.on('error', (error) => errors.push(error));
    const et = await add.execute([2, 3]);
    expect(await et.wait(10)).toBe(true);
    expect(await et.status()).toBe('done');
    expect(await et.result()).toBe(5);
    // a failing task writes its failed runs to the recent failures (RPUSH/LTRIM)
    const failing = await boom.execute([]);
    expect(await failing.wait(10)).toBe(true);
    expect(await failing.status()).toBe('failed');
    expect((await app.recentFailures()).map((f) => [f.error, f.final])).toEqual([['boom', true], ['boom', false]]);
    const later = await add.execute([1, 1], { delay: 60 });
    expect(await later.cancel()).toBe(true);
    expect(await app.enqueuedTask(later.id).status()).toBe('cancelled');
    await worker.close();
    expect(errors).toEqual([]);
    await queue.clear();
  } finally {
    await queue.close();
    await app.close();
    redis.disconnect();
  }
}

// it configures users and TLS on redis-servers of its own
describe.runIf(selectedKind() === 'redis')('visq as a least-privilege ACL user', () => {
  let server: RedisServer;
  let admin: Redis;

  beforeAll(async () => {
    server = await startRedisServer();
    admin = server.client();
    await admin.acl('SETUSER', USER, 'reset', `>${PASSWORD}`, ...aclRules(PREFIX));
  });

  afterEach(async () => {
    await admin.acl('LOG', 'RESET');
  });

  afterAll(async () => {
    await server?.stop();
  });

  /** Commands the ACL refused, except ioredis's CLIENT SETINFO, whose refusal it ignores. */
  async function refusals(): Promise<string[]> {
    const log = (await admin.acl('LOG')) as unknown[][];
    return log
      .map((entry) => {
        const fields = new Map<unknown, unknown>();
        for (let i = 0; i + 1 < entry.length; i += 2) fields.set(entry[i], entry[i + 1]);
        return `${String(fields.get('reason'))}: ${String(fields.get('object'))}`;
      })
      // refusals visq expects and tolerates, as docs/operations.md says: ioredis's CLIENT
      // SETINFO on connect, and the eviction-policy check's CONFIG GET
      .filter((refusal) => !refusal.includes('client|setinfo') && !refusal.includes('config|get'));
  }

  it('is the line docs/operations.md gives, for the prefix visq', () => {
    const line = `ACL SETUSER visq >CHANGE-ME ${aclRules('visq').join(' ')}`;
    expect(readFileSync(DOCS, 'utf8')).toContain(line);
  });

  it('grants every command the Lua scripts call', () => {
    const granted = new Set<string>(COMMANDS);
    expect([...scriptCommands()].filter((command) => !granted.has(command))).toEqual([]);
  });

  it('runs the data queue, tasks and workers end to end, and nothing is refused', async () => {
    await roundTrip({ host: '127.0.0.1', port: server.port, username: USER, password: PASSWORD });
    expect(await refusals()).toEqual([]);
  });

  it('runs the read-only CLI commands with the user and password in the URL', async () => {
    const setup = new DataQueue(admin, 'cli', { prefix: PREFIX });
    const [id] = await setup.putData(['x', 'y']);
    await setup.close();
    const url = `redis://${USER}:${PASSWORD}@127.0.0.1:${server.port}`;
    const lines: string[] = [];
    const io = { out: (line: string) => void lines.push(line), err: (line: string) => void lines.push(line) };
    for (const args of [['stats'], ['stats', 'cli'], ['peek', 'cli'], ['dead', 'cli'], ['inspect', 'cli', id ?? '']]) {
      expect(await run([...args, '--redis-url', url, '--prefix', PREFIX], io), `${args.join(' ')}: ${lines.join('\n')}`).toBe(0);
    }
    expect(await refusals()).toEqual([]);
  });

  it('refuses, with a StoreError naming the ACL, a queue outside its prefix', async () => {
    const redis = new Redis({ host: '127.0.0.1', port: server.port, username: USER, password: PASSWORD });
    const queue = new DataQueue(redis, 'jobs', { prefix: 'other' });
    try {
      const failure = await queue.putData(['x']).catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(StoreError);
      expect((failure as Error).message).toMatch(/NOPERM/);
      expect(await admin.keys('{other:*')).toEqual([]);
    } finally {
      await queue.close();
      redis.disconnect();
    }
  });

  describe('without the registry key', () => {
    const LIMITED = 'visq-no-registry';

    beforeAll(async () => {
      const rules = aclRules(PREFIX).filter((rule) => rule !== `~{${PREFIX}}:queues`);
      await admin.acl('SETUSER', LIMITED, 'reset', `>${PASSWORD}`, ...rules);
    });

    /** Runs `fn` with a queue of the user that cannot write the registry; resolves the warnings emitted. */
    async function asLimitedUser(fn: (queue: DataQueue<string>) => Promise<void>): Promise<Error[]> {
      const redis = new Redis({ host: '127.0.0.1', port: server.port, username: LIMITED, password: PASSWORD });
      const queue = new DataQueue<string>(redis, 'unlisted', { prefix: PREFIX });
      const warnings: Error[] = [];
      const onWarning = (warning: Error): void => void warnings.push(warning);
      process.on('warning', onWarning);
      try {
        await fn(queue);
        // process warnings are emitted on the next tick
        await new Promise((resolve) => setImmediate(resolve));
        return warnings;
      } finally {
        process.off('warning', onWarning);
        await queue.clear().catch(() => undefined);
        await queue.close();
        redis.disconnect();
      }
    }

    it('stores a put once and acknowledges it, warning once that the queue could not be listed', async () => {
      const warnings = await asLimitedUser(async (queue) => {
        const ids = await queue.putData(['a', 'b']);
        expect(ids).toHaveLength(2);
        await queue.putData(['c']);
        expect(await queue.stats()).toMatchObject({ ready: 3, puts: 3 });
        expect([...(await queue.peekData(10)).values()]).toEqual(['a', 'b', 'c']);
      });
      expect(warnings.map((w) => [w.name, (w as Error & { code?: string }).code])).toEqual([['VisqWarning', 'VISQ_QUEUE_REGISTRY']]);
      expect(warnings[0]?.message).toMatch(/"unlisted".*NOPERM/);
      expect(await admin.smembers(`{${PREFIX}}:queues`)).not.toContain('unlisted');
    });

    it('clears the queue and acknowledges it', async () => {
      await asLimitedUser(async (queue) => {
        await queue.putData(['a']);
        await queue.clear();
        expect(await admin.keys(`{${PREFIX}:unlisted}*`)).toEqual([]);
      });
    });
  });

  describe('over TLS', () => {
    const dir = mkdtempSync(join(tmpdir(), 'visq-tls-'));
    const certificate = selfSigned(dir);
    let tlsServer: RedisServer | undefined;

    afterAll(async () => {
      await tlsServer?.stop();
      rmSync(dir, { recursive: true, force: true });
    });

    // the blocking read and the task-event subscriber run on connections visq opens itself
    // (ioredis duplicate()): the round trip fails unless they carry TLS and the user too
    it.runIf(certificate !== undefined)('passes tls, username and password through to every connection', async (test) => {
      const { cert, key } = certificate ?? { cert: '', key: '' };
      const tlsPort = await freePort();
      try {
        tlsServer = await startRedisServer([
          '--tls-port', String(tlsPort), '--tls-cert-file', cert, '--tls-key-file', key,
          '--tls-ca-cert-file', cert, '--tls-auth-clients', 'no',
        ]);
      } catch {
        test.skip('this redis-server was built without TLS');
        return;
      }
      const tlsAdmin = tlsServer.client();
      await tlsAdmin.acl('SETUSER', USER, 'reset', `>${PASSWORD}`, ...aclRules(PREFIX));
      await roundTrip({
        host: '127.0.0.1',
        port: tlsPort,
        username: USER,
        password: PASSWORD,
        tls: { ca: readFileSync(cert) },
      });
    });
  });
});
