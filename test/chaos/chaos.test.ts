/**
 * The short chaos runs of `npm test` (scenario.ts): real consumer and worker processes,
 * SIGKILLed while they hold leases (workers also around the settle of a failed run); on
 * Redis (`npm test`'s default run): executes, claims and settles sent twice, as after a
 * reconnect; Redis restarted from its AOF, with SIGTERM and with SIGKILL; the script
 * cache flushed; every connection dropped; Redis full for a moment; on PostgreSQL
 * (`npm run test:postgres`): every client connection terminated, clean restarts and
 * crashes.
 * The long form is `npm run chaos -- --items 100000 --seconds 120 [--store postgres]`. A failing run prints
 * its seed: `CHAOS_SEED=<seed> npx vitest run test/chaos` runs the same plan again.
 */
import { describe, expect, it } from 'vitest';
import { selectedKind } from '../harness/store-kind.js';
import { formatReport, type ChaosReport } from './report.js';
import { runChaos } from './scenario.js';
import { DATA, TASKS } from './settings.js';

/** What every run must show: no violation, nothing lost, no item or task run beyond its attempts, every item settled. */
function expectSound(report: ChaosReport, items: number): void {
  expect(report.violations).toEqual([]);
  expect(report.data.lost).toBe(0);
  expect(report.tasks.lost).toBe(0);
  expect(report.data.maxDelivery).toBeLessThanOrEqual(DATA.attempts);
  expect(report.tasks.maxAttempt).toBeLessThanOrEqual(TASKS.attempts);
  expect(report.tasks.maxOnceRuns).toBeLessThanOrEqual(1);
  // every item the producer was told was stored settled
  expect(report.data.done + report.data.dead).toBe(report.data.items);
  expect(report.data.put).toBeGreaterThanOrEqual(items);
}

// it starts, kills and fills a redis-server of its own
describe.runIf(selectedKind() === 'redis')('a chaos run on Redis', () => {
  it('ends with every item done once by its lease holder or dead-lettered after its attempts, none lost', async () => {
    const seed = Number(process.env.CHAOS_SEED ?? Math.floor(Math.random() * 2 ** 31));
    const report = await runChaos({ items: 1500, tasks: 120, seconds: 8, consumers: 3, workers: 2, seed });
    console.log(formatReport(report));
    expectSound(report, 1500);
    const { figures } = report;
    for (const figure of [
      'consumerKills',
      'workerKills',
      'failureKills',
      'resentEnqueues',
      'resentClaims',
      'resentSettles',
      'redisRestarts',
      'redisCrashes',
      'scriptFlushes',
      'clientKills',
      'clientsDropped',
      'fullEpisodes',
      'evalFallbacks',
    ] as const) {
      expect(figures[figure], figure).toBeGreaterThan(0);
    }
  }, 240_000);
});

// it starts, terminates the connections of and restarts a PostgreSQL of its own
describe.runIf(selectedKind() === 'postgres')('a chaos run on PostgreSQL', () => {
  it('ends with every item done once by its lease holder or dead-lettered after its attempts, none lost', async () => {
    const seed = Number(process.env.CHAOS_SEED ?? Math.floor(Math.random() * 2 ** 31));
    const report = await runChaos({ store: 'postgres', items: 1000, tasks: 100, seconds: 8, consumers: 3, workers: 2, seed });
    console.log(formatReport(report));
    expectSound(report, 1000);
    const { figures } = report;
    for (const figure of ['consumerKills', 'workerKills', 'failureKillsArmed', 'terminations', 'listenersTerminated', 'postgresRestarts', 'postgresCrashes'] as const) {
      expect(figures[figure], figure).toBeGreaterThan(0);
    }
  }, 240_000);
});
