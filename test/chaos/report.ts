/** The outcome of a chaos run, and its figure table. */
import type { CounterFigures } from './counters.js';
import type { ChaosFigures } from './disruptions.js';
import type { ChaosOptions } from './scenario.js';
import { DATA, TASKS } from './settings.js';
import type { DataVerdict, TaskVerdict } from './verify.js';

export interface ChaosReport {
  readonly options: ChaosOptions;
  readonly figures: ChaosFigures;
  readonly data: DataVerdict;
  readonly tasks: TaskVerdict;
  /** The metric counters at the end, checked against the ledger (counters.ts). */
  readonly counters: CounterFigures;
  /** Store failures the processes survived, by error class. */
  readonly survivedErrors: Record<string, number>;
  /** Every violation found: data, tasks, settling, resuming. */
  readonly violations: string[];
}

/** The figure table of a run, in Markdown. */
export function formatReport(report: ChaosReport): string {
  const { options, figures: f, data: d, tasks: t, counters: c } = report;
  const rows: [string, string][] = [
    ['seed', String(options.seed)],
    ['data items through chaos (put + found)', `${d.items} (${d.put} put, ${d.discovered} found only by delivery)`],
    ['tasks through chaos', `${t.executed} (${t.runs} runs)`],
    ['store', options.store ?? 'redis'],
    ['consumer / worker SIGKILLs', `${f.consumerKills} / ${f.workerKills}`],
    [
      'worker kills around a failed run\'s settle (armed; of them failing the task for good)',
      `${f.failureKills} (${f.failureKillsArmed}; ${f.finalFailureKills})`,
    ],
    ['scripts sent twice: executes / claims / settles', `${f.resentEnqueues} / ${f.resentClaims} / ${f.resentSettles}`],
    ...(options.store === 'postgres'
      ? ([
          ['PostgreSQL restarts (clean / crash)', `${f.postgresRestarts} / ${f.postgresCrashes}`],
          [
            'pg_terminate_backend rounds (connections ended, of them LISTEN)',
            `${f.terminations} (${f.connectionsTerminated}, ${f.listenersTerminated})`,
          ],
        ] as [string, string][])
      : ([
          ['Redis restarts (SIGTERM / SIGKILL), AOF everysec', `${f.redisRestarts} / ${f.redisCrashes}`],
          ['script cache flushes; EVAL fallbacks after NOSCRIPT', `${f.scriptFlushes}; ${f.evalFallbacks}`],
          ['CLIENT KILL rounds (connections dropped, of them blocked)', `${f.clientKills} (${f.clientsDropped}, ${f.blockedDropped})`],
          ['full-Redis episodes (puts / executes refused)', `${f.fullEpisodes} (${d.refusedPuts} / ${t.refused})`],
          ['executes refused as full whose task ran anyway (must be 0)', String(t.refusedButRun)],
        ] as [string, string][])),
    ['puts with a lost reply (items stored twice by client resend)', `${d.uncertainPuts} (${d.resentPuts})`],
    ['deliveries (unobserved: reply lost)', `${d.deliveries} (${d.unobservedDeliveries})`],
    ['done (answer lost, settled by end state) / stale dones', `${d.done} (${d.doneUnanswered}) / ${d.staleDones}`],
    ['dones answered 0 after a reconnect (the client sent them twice)', String(d.resentZeros)],
    ['dead-lettered (last delivery unobserved)', `${d.dead} (${d.deadLastUnobserved})`],
    ['tasks done / failed / dead letters', `${t.done} / ${t.failed} / ${t.deadLetters}`],
    ['items lost / tasks lost', `${d.lost} / ${t.lost}`],
    ['max deliveries seen vs attempts', `${d.maxDelivery} vs ${DATA.attempts}`],
    ['max task attempt seen vs attempts; most runs of an at-most-once task', `${t.maxAttempt} vs ${TASKS.attempts}; ${t.maxOnceRuns}`],
    ['counters: data puts / deliveries / lease expiries', `${c.dataPuts} / ${c.dataDeliveries} / ${c.dataExpiries}`],
    [
      'counters: task runs started / done / failed / retried',
      `${c.tasksStarted} / ${c.tasksDone} / ${c.tasksFailed} / ${c.tasksRetried}`,
    ],
    ['store errors survived', JSON.stringify(report.survivedErrors)],
    ['violations', String(report.violations.length)],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  return [
    `| ${'figure'.padEnd(width)} | value |`,
    `| ${'-'.repeat(width)} | ----- |`,
    ...rows.map(([k, v]) => `| ${k.padEnd(width)} | ${v} |`),
    ...report.violations.map((v) => `violation: ${v}`),
  ].join('\n');
}
