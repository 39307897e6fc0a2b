/**
 * A settle the store keeps refusing. The worker sends a run's outcome again, with
 * back-off, for up to a minute (settleRetry.budgetMs, shortened here through its test
 * hook); then it gives the outcome up and lets the run's lease go, so the task is
 * delivered again after its visibility timeout, as at-least-once delivery allows.
 *
 * The refusal is real: a Redis ACL user that may use every key of the queue but its
 * saved results, so that exactly the settle of a run with a result to save is refused
 * (NOPERM: Redis checks every key a script declares), while claims, refreshes and the
 * settles of other runs go through.
 */
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { Visq } from '../../src/index.js';
import { settleRetry } from '../../src/worker/settler.js';
import { useStore } from '../harness/context.js';
import { record, useTaskApps } from '../tasks/helpers.js';

const ctx = useStore();
const t = useTaskApps(ctx);

/** A client of the file's server whose user may not touch the saved results of `queue`. */
async function withoutResults(queue: string): Promise<Redis> {
  const base = `{${ctx.prefix}:${queue}}`;
  const user = `no-results-${ctx.prefix}`;
  const password = 'no-results-password';
  // every key of the queue but `<base>:result:*` (`:ready` is the only other one starting with r)
  await ctx.redis.acl('SETUSER', user, 'reset', 'on', `>${password}`, `~${base}:[^r]*`, `~${base}:re[^s]*`, `~{${ctx.prefix}}:queues`, '&*', '+@all');
  const client = new Redis(ctx.server.url, { username: user, password });
  client.on('error', () => undefined);
  return client;
}

// an ACL user on the file's own redis-server
describe.runIf(ctx.kind === 'redis')('a settle the store keeps refusing', () => {
  const clients: Redis[] = [];
  const budget = settleRetry.budgetMs;

  afterEach(() => {
    settleRetry.budgetMs = budget;
    for (const client of clients.splice(0)) client.disconnect();
  });

  // Issue 22 (task layer, 1): once the result write gave up, the run's lease was still
  // refreshed, for as long as the worker lived: the task read `started` all that time (and
  // ended `failed` after the worker stopped, its last run spent), although it had succeeded.
  it('is given up after its budget, and the lease goes with it: the task runs again and finishes', async () => {
    settleRetry.budgetMs = 300;
    const refused = await withoutResults('default');
    clients.push(refused);
    const app = new Visq({ redis: refused, prefix: ctx.prefix });
    let runs = 0;
    // the first run returns a result to save, whose settle is refused; the second none
    const job = app.task('job', () => {
      runs += 1;
      return runs === 1 ? 'to be saved' : undefined;
    }, { visTimeout: 0.5, attempts: 2, saveResults: 60 });
    const worker = t.worker(app);
    const errors = record(worker, 'error');
    const started = record(worker, 'started');
    try {
      const et = await job.execute([]);
      const watched = t.app().enqueuedTask(et.id);
      expect(await watched.wait(10)).toBe(true);
      expect(await watched.record()).toMatchObject({ state: 'done', attempt: 2, hasResult: false });
      expect(runs).toBe(2);
      expect(started.map((s) => s.attempt)).toEqual([1, 2]);
      // refused (NOPERM) until the budget ran out, then given up
      expect(errors.some((e) => /NOPERM/.test(e.message))).toBe(true);
      expect(errors.some((e) => /Gave up settling 1 task run/.test(e.message))).toBe(true);
      expect(await t.app().queue().stats()).toMatchObject({ ready: 0, inflight: 0, dead: 0 });
    } finally {
      await app.close();
    }
  });
});
