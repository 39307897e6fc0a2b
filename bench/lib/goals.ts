/**
 * The goals the benchmark holds visq to, evaluated on one run's rows. Each goal names the
 * rows it compares (by their workload) and its thresholds by source:
 * - `issue 16`: "Tasks at data-queue speed", done when, in one run: task processing at
 *   concurrency 50 with `attempts: 3, visTimeout: 30` ≥ 3× bee-queue and ≥ 4× BullMQ, at
 *   concurrency 1 ≥ 2× bee-queue, execute one call per task ≥ 1.0× bee-queue, bulk ≥ 1.5×
 *   bee-queue, add → start p50 ≤ bee-queue's; data get+done ≥ 1.0× Streams at batch 1,
 *   ≥ 1.25× at 10, ≥ 1.3× at 100; a queued task ≤ 200 bytes beyond its arguments. The
 *   task goals are judged on the at-least-once rows (every system with 3 attempts and
 *   stalled-task recovery, as the issue measured them); the defaults' ratio is shown
 *   beside them.
 * - `budget`: the data queue's cost budget (shared/DESIGN.md, "Cost budget").
 * - `target`: the benchmark's earlier targets that no later goal replaced.
 * - `issue 18`: "Beyond the peers": a rate-limited queue delivers at its configured rate
 *   (within 5% below, 2% above: the clock of the reads and Redis's differ by a little),
 *   and the plain get+done rows keep their ratios (judged by the get-done goals above).
 */
import { TASK_PROFILES, type SystemName, type TaskProfile } from './protocol.js';
import { fixed, int, ms, ratio, table, type Row } from './report.js';
import type { ThroughputRow } from './throughput.js';
import type { DepthRow } from './workloads/depth.js';
import { getDoneWorkload } from './workloads/get-done.js';
import { dedupeWorkload } from './workloads/dedupe.js';
import { groupsWorkload } from './workloads/groups.js';
import type { LatencyRow } from './workloads/latency.js';
import { memoryWorkload, type MemoryRow } from './workloads/memory.js';
import { PROFILE_LABEL, taskWorkload } from './workloads/tasks.js';
import { LIMIT_PER_SECOND, limitedWorkload } from './workloads/limits.js';

export interface Goal {
  readonly goal: string;
  readonly target: string;
  readonly measured: string;
  /** Per threshold: its name and whether it was met (undefined: not measured). */
  readonly verdicts: readonly { readonly source: string; readonly met: boolean | undefined }[];
}

/** A lower bound on a ratio, named by where it comes from. */
type Threshold = readonly [source: string, atLeast: number];

/** The task profile the task goals are judged at. */
const JUDGED: TaskProfile = 'at-least-once';

function find<R extends Row>(rows: readonly Row[], kind: R['kind'], workload: string, system: SystemName): R | undefined {
  return rows.find((r): r is R => r.kind === kind && r.workload === workload && r.system === system && !r.error);
}

function verdict(source: string, value: number | undefined, test: (x: number) => boolean) {
  return { source, met: value === undefined || !Number.isFinite(value) ? undefined : test(value) };
}

const atLeast = (thresholds: readonly Threshold[]): string =>
  thresholds.map(([source, min]) => `≥ ${min}× (${source})`).join(', ');

function ratioGoal(goal: string, value: number | undefined, thresholds: readonly Threshold[], note = ''): Goal {
  return {
    goal,
    target: atLeast(thresholds),
    measured: value === undefined ? 'not measured' : `${fixed(value, 3)}×${note}`,
    verdicts: thresholds.map(([source, min]) => verdict(source, value, (x) => x >= min)),
  };
}

/** visq ÷ Streams on get+done at one batch size: by items/s, Redis command time and Redis CPU per item. */
function getDoneGoals(rows: readonly Row[], batch: number, thresholds: readonly Threshold[]): Goal[] {
  const workload = getDoneWorkload(batch);
  const visq = find<ThroughputRow>(rows, 'throughput', workload, 'visq');
  const streams = find<ThroughputRow>(rows, 'throughput', workload, 'streams');
  const both = visq && streams ? { visq, streams } : undefined;
  return [
    ratioGoal(
      `data get+done ×${batch}: visq ÷ streams, items/s ("${workload}")`,
      both && both.visq.itemsPerSec.median / both.streams.itemsPerSec.median,
      thresholds,
    ),
    ratioGoal('  the same by Redis command time per item', both && both.streams.cmdUsPerItem / both.visq.cmdUsPerItem, thresholds),
    ratioGoal('  the same by Redis process CPU per item', both && both.streams.redisCpuUsPerItem / both.visq.redisCpuUsPerItem, thresholds),
  ];
}

/**
 * Ordered groups (issue 18): get+done at batch 100 over 1,000 groups ÷ the same on plain
 * items in the same run, by items/s and by Redis command time per item: ≥ 0.5×.
 */
function groupsGoals(rows: readonly Row[]): Goal[] {
  const grouped = find<ThroughputRow>(rows, 'throughput', groupsWorkload(true), 'visq');
  const plain = find<ThroughputRow>(rows, 'throughput', groupsWorkload(false), 'visq');
  const both = grouped && plain ? { grouped, plain } : undefined;
  const thresholds: readonly Threshold[] = [['issue 18', 0.5]];
  return [
    ratioGoal(
      `ordered groups: get+done ×100 over 1,000 groups ÷ plain, items/s ("${groupsWorkload(true)}")`,
      both && both.grouped.itemsPerSec.median / both.plain.itemsPerSec.median,
      thresholds,
    ),
    ratioGoal('  the same by Redis command time per item', both && both.plain.cmdUsPerItem / both.grouped.cmdUsPerItem, thresholds),
  ];
}

/** visq ÷ a peer in tasks/s on one task workload, judged at JUDGED, the defaults' ratio beside it. */
function taskGoal(rows: readonly Row[], workload: (profile: TaskProfile) => string, peer: SystemName, min: number): Goal {
  const at = (profile: TaskProfile): number | undefined => {
    const visq = find<ThroughputRow>(rows, 'throughput', workload(profile), 'visq');
    const other = find<ThroughputRow>(rows, 'throughput', workload(profile), peer);
    return visq && other ? visq.itemsPerSec.median / other.itemsPerSec.median : undefined;
  };
  const defaults = at('defaults');
  const note = defaults === undefined ? '' : ` (${PROFILE_LABEL.defaults}: ${ratio(defaults)})`;
  return ratioGoal(`tasks/s visq ÷ ${peer} ("${workload(JUDGED)}")`, at(JUDGED), [['issue 16', min]], note);
}

/** Task add → start p50: visq's at most the peer's, judged at JUDGED. */
function taskLatencyGoal(rows: readonly Row[], peer: SystemName): Goal {
  const pair = (profile: TaskProfile) => {
    const visq = find<LatencyRow>(rows, 'latency', taskWorkload.latency(profile), 'visq');
    const other = find<LatencyRow>(rows, 'latency', taskWorkload.latency(profile), peer);
    return visq && other ? { visq: visq.pooled.p50, other: other.pooled.p50 } : undefined;
  };
  const judged = pair(JUDGED);
  const defaults = pair('defaults');
  const shown = (p: { visq: number; other: number }): string => `${ms(p.visq)} vs ${ms(p.other)} ms`;
  return {
    goal: `task add → start p50: visq vs ${peer} ("${taskWorkload.latency(JUDGED)}")`,
    target: `≤ ${peer}'s (issue 16)`,
    measured: judged
      ? `${shown(judged)}${defaults ? ` (${PROFILE_LABEL.defaults}: ${shown(defaults)})` : ''}`
      : 'not measured',
    verdicts: [verdict('issue 16', judged && judged.visq / judged.other, (x) => x <= 1)],
  };
}

/** A queued visq task's Redis memory beyond its arguments, at every task profile measured. */
function taskMemoryGoal(rows: readonly Row[]): Goal {
  const LIMIT = 200;
  const measured = TASK_PROFILES.flatMap((profile) => {
    const row = find<MemoryRow>(rows, 'memory', memoryWorkload('tasks', profile), 'visq');
    return row ? [{ profile, overhead: row.overheadPerItem }] : [];
  });
  return {
    goal: 'Redis memory per queued task beyond its arguments (visq, "memory per queued task, …")',
    target: `≤ ${LIMIT} bytes (issue 16)`,
    measured:
      measured.length === 0
        ? 'not measured'
        : measured.map(({ profile, overhead }) => `${fixed(overhead, 1)} bytes (${PROFILE_LABEL[profile]})`).join(', '),
    // one verdict per profile: a task's settings must not cost it memory beyond the goal
    verdicts: measured.map(({ profile, overhead }) => verdict(PROFILE_LABEL[profile], overhead, (x) => x <= LIMIT)),
  };
}

/** Deduplicated put ÷ plain put at batch 100, both visq, in one run (issue 18). */
function dedupeGoal(rows: readonly Row[]): Goal {
  const plain = find<ThroughputRow>(rows, 'throughput', dedupeWorkload.plain, 'visq');
  const dedupe = find<ThroughputRow>(rows, 'throughput', dedupeWorkload.dedupe, 'visq');
  return ratioGoal(
    `dedupe put ×100 ÷ plain put ×100, items/s (visq, "${dedupeWorkload.dedupe}")`,
    plain && dedupe && dedupe.itemsPerSec.median / plain.itemsPerSec.median,
    [['issue 18', 0.5]],
  );
}

export function goals(rows: readonly Row[]): Goal[] {
  const out: Goal[] = [
    ...getDoneGoals(rows, 1, [['issue 16', 1.0]]),
    ...getDoneGoals(rows, 10, [['issue 16', 1.25], ['budget', 1.0]]),
    ...getDoneGoals(rows, 100, [['issue 16', 1.3], ['budget', 1.25]]),
    ...getDoneGoals(rows, 1000, [['target', 1.25], ['budget', 1.0]]),
    ...groupsGoals(rows),
    taskGoal(rows, (profile) => taskWorkload.process(50, profile), 'bee-queue', 3),
    taskGoal(rows, (profile) => taskWorkload.process(50, profile), 'bullmq', 4),
    taskGoal(rows, (profile) => taskWorkload.process(1, profile), 'bee-queue', 2),
    taskGoal(rows, (profile) => taskWorkload.push(1, profile), 'bee-queue', 1.0),
    taskGoal(rows, (profile) => taskWorkload.push(1000, profile), 'bee-queue', 1.5),
    taskLatencyGoal(rows, 'bee-queue'),
    dedupeGoal(rows),
  ];

  const limited = find<ThroughputRow>(rows, 'throughput', limitedWorkload, 'visq');
  const rate = limited && limited.itemsPerSec.median / LIMIT_PER_SECOND;
  out.push({
    goal: `rate-limited get+done: delivered ÷ configured rate ("${limitedWorkload}")`,
    target: '0.95× to 1.02× (issue 18)',
    measured: limited && rate !== undefined ? `${fixed(rate, 3)}× (${int(limited.itemsPerSec.median)} items/s)` : 'not measured',
    verdicts: [verdict('issue 18', rate, (x) => x >= 0.95 && x <= 1.02)],
  });

  const latency = find<LatencyRow>(rows, 'latency', 'latency put → get', 'visq');
  out.push({
    goal: 'p99 put → get (visq)',
    target: '≤ 1.5 ms (target)',
    measured: latency ? `${ms(latency.pooled.p99)} ms (runs ${ms(latency.p99PerRep.min)}–${ms(latency.p99PerRep.max)})` : 'not measured',
    verdicts: [verdict('target', latency?.pooled.p99, (x) => x <= 1500)],
  });

  const memory = find<MemoryRow>(rows, 'memory', memoryWorkload('data'), 'visq');
  out.push({
    goal: 'Redis memory per queued item beyond the payload (visq)',
    target: '≤ 120 bytes (target)',
    measured: memory ? `${fixed(memory.overheadPerItem, 1)} bytes` : 'not measured',
    verdicts: [verdict('target', memory?.overheadPerItem, (x) => x <= 120)],
  });
  out.push(taskMemoryGoal(rows));

  const depths = rows.filter((r): r is DepthRow => r.kind === 'depth' && r.system === 'visq' && !r.error);
  const shallow = depths[0];
  const deep = depths[depths.length - 1];
  const growth = shallow && deep && deep !== shallow ? deep.pooled.p50 / shallow.pooled.p50 : undefined;
  out.push({
    goal: 'depth-independent getData(100): p50 deep ÷ p50 shallow (visq)',
    target: '≤ 1.25× (within noise)',
    measured:
      growth === undefined || !shallow || !deep
        ? 'not measured'
        : `${ratio(growth)} (${ms(shallow.pooled.p50)} ms at ${int(shallow.depth)}, ${ms(deep.pooled.p50)} ms at ${int(deep.depth)})`,
    verdicts: [verdict('target', growth, (x) => x <= 1.25)],
  });
  return out;
}

/** The goals this run measured (a run limited with --only measures some). */
export function goalsTable(list: readonly Goal[]): string {
  const body = list.filter((g) => g.verdicts.some((v) => v.met !== undefined)).map((g) => [
    g.goal,
    g.target,
    g.measured,
    g.verdicts.map((v) => `${v.source}: ${v.met === undefined ? '—' : v.met ? 'met' : 'MISSED'}`).join(', '),
  ]);
  return table(['goal', 'target', 'measured', 'verdict'], body, 4);
}
