/**
 * The printed tables and the goals. Every peer row carries visq ÷ peer for the same
 * workload in the same run: items/s over items/s, and for Redis cost the peer's
 * µs per item over visq's (how many more items visq gets out of a Redis CPU second).
 */
import type { SystemName } from './protocol.js';
import type { DepthRow } from './workloads/depth.js';
import type { LatencyRow } from './workloads/latency.js';
import type { MemoryRow } from './workloads/memory.js';
import type { ThroughputRow } from './throughput.js';

export type Row = ThroughputRow | LatencyRow | MemoryRow | DepthRow;

export interface Goal {
  readonly goal: string;
  readonly target: string;
  readonly measured: string;
  /** Per threshold: its name and whether it was met (undefined: not measured). */
  readonly verdicts: readonly { readonly source: string; readonly met: boolean | undefined }[];
}

const int = (x: number): string => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '—');
const fixed = (x: number, digits = 2): string => (Number.isFinite(x) ? x.toFixed(digits) : '—');
const ratio = (x: number): string => (Number.isFinite(x) ? `${x.toFixed(2)}×` : '—');
const ms = (us: number): string => (Number.isFinite(us) ? (us / 1000).toFixed(3) : '—');

/** Right-aligns every column but the first `left` ones. */
function table(header: readonly string[], rows: readonly (readonly string[])[], left = 2): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((cell, i) => (i < left ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '─'.repeat(w))), ...rows.map(line)].join('\n');
}

/** visq's own systems: the rows the peers of a workload are compared with. */
const isVisq = (system: SystemName): boolean => system === 'visq' || system === 'visq-postgres';

function visqRow<R extends Row>(rows: readonly R[], row: R): R | undefined {
  return rows.find((r) => r.workload === row.workload && isVisq(r.system) && !r.error);
}

export function throughputTable(rows: readonly ThroughputRow[]): string {
  const body = rows.map((row) => {
    const visq = visqRow(rows, row);
    const ours = isVisq(row.system);
    const peerRatio = (visqValue: number | undefined, peerValue: number): string =>
      ours || visqValue === undefined ? '' : ratio(visqValue / peerValue);
    return [
      row.workload,
      row.system,
      row.error ? `FAILED: ${row.error.split('\n')[0]?.slice(0, 60) ?? ''}` : int(row.itemsPerSec.median),
      row.error ? '' : `${int(row.itemsPerSec.min)}–${int(row.itemsPerSec.max)}`,
      peerRatio(visq?.itemsPerSec.median, row.itemsPerSec.median),
      fixed(row.cmdUsPerItem),
      fixed(row.redisCpuUsPerItem),
      // Redis cost: the peer's µs per item over visq's
      ours || !visq ? '' : ratio(row.redisCpuUsPerItem / visq.redisCpuUsPerItem),
      fixed(row.clientCpuUsPerItem, 1),
      int(row.n),
      fixed(row.otherCores),
    ];
  });
  return table(
    [
      'workload', 'system', 'items/s', 'min–max', 'visq ÷', 'cmd µs/it', 'Redis CPU µs/it',
      'visq ÷ (Redis CPU)', 'client CPU µs/it', 'items/run', 'other load',
    ],
    body,
  );
}

export function latencyTable(rows: readonly LatencyRow[]): string {
  const body = rows.map((row) => {
    const visq = visqRow(rows, row);
    return [
      row.workload,
      row.system,
      row.error ? 'FAILED' : ms(row.pooled.p50),
      ms(row.pooled.p99),
      ms(row.pooled.p999),
      ms(row.pooled.max),
      `${ms(row.p99PerRep.min)}–${ms(row.p99PerRep.max)}`,
      row.system === 'visq' || !visq ? '' : ratio(visq.pooled.p99 / row.pooled.p99),
      int(row.pooled.samples),
      fixed(row.otherCores),
    ];
  });
  return table(
    ['workload', 'system', 'p50 ms', 'p99 ms', 'p999 ms', 'max ms', 'p99 per run', 'visq ÷ (p99)', 'samples', 'other load'],
    body,
  );
}

export function memoryTable(rows: readonly MemoryRow[]): string {
  const visqData = rows.find((r) => r.system === 'visq' && r.target === 'data' && !r.error);
  const visqTask = rows.find((r) => r.system === 'visq' && r.target === 'tasks' && !r.error);
  const body = rows.map((row) => [
    row.target === 'data' ? 'data item' : 'task',
    row.system,
    row.error ? 'FAILED' : fixed(row.bytesPerItem, 1),
    String(row.payloadBytes),
    fixed(row.overheadPerItem, 1),
    row.system === 'visq' || !visqData ? '' : ratio(visqData.bytesPerItem / row.bytesPerItem),
    row.system === 'visq' || !visqTask ? '' : ratio(visqTask.bytesPerItem / row.bytesPerItem),
    int(row.items),
  ]);
  return table(
    ['queued', 'system', 'bytes/item', 'payload', 'overhead', 'visq data ÷', 'visq task ÷', 'items'],
    body,
  );
}

export function depthTable(rows: readonly DepthRow[]): string {
  const body = rows.map((row) => {
    const shallow = rows.find((r) => r.system === row.system && !r.error && r.depth < row.depth);
    return [
      row.workload,
      row.system,
      int(row.depth),
      row.error ? 'FAILED' : ms(row.pooled.p50),
      ms(row.pooled.p99),
      shallow ? ratio(row.pooled.p50 / shallow.pooled.p50) : '',
      int(row.pooled.samples),
      fixed(row.otherCores),
    ];
  });
  return table(['workload', 'system', 'depth', 'p50 ms', 'p99 ms', 'p50 ÷ shallow', 'reads', 'other load'], body);
}

function find<R extends Row>(rows: readonly Row[], kind: R['kind'], workload: string, system: SystemName): R | undefined {
  return rows.find((r): r is R => r.kind === kind && r.workload.startsWith(workload) && r.system === system && !r.error);
}

function verdict(source: string, value: number | undefined, test: (x: number) => boolean) {
  return { source, met: value === undefined || !Number.isFinite(value) ? undefined : test(value) };
}

export function goals(rows: readonly Row[]): Goal[] {
  const out: Goal[] = [];
  const getDone = (batch: number, target: number, budget: number): void => {
    const workload = `get+done, batches of ${batch},`;
    const visq = find<ThroughputRow>(rows, 'throughput', workload, 'visq');
    const streams = find<ThroughputRow>(rows, 'throughput', workload, 'streams');
    const byRate = visq && streams ? visq.itemsPerSec.median / streams.itemsPerSec.median : undefined;
    const byCpu = visq && streams ? streams.redisCpuUsPerItem / visq.redisCpuUsPerItem : undefined;
    const byCmd = visq && streams ? streams.cmdUsPerItem / visq.cmdUsPerItem : undefined;
    out.push({
      goal: `data get+done ×${batch}, 4 consumers ÷ Streams, items/s`,
      target: `≥ ${target}× (target), ≥ ${budget}× (budget)`,
      measured: byRate === undefined ? 'not measured' : `${fixed(byRate, 3)}×`,
      verdicts: [verdict('target', byRate, (x) => x >= target), verdict('budget', byRate, (x) => x >= budget)],
    });
    for (const [figure, value] of [['command time', byCmd], ['process CPU', byCpu]] as const) {
      out.push({
        goal: `  the same by Redis ${figure} per item`,
        target: `≥ ${target}× (target), ≥ ${budget}× (budget)`,
        measured: value === undefined ? 'not measured' : `${fixed(value, 3)}×`,
        verdicts: [verdict('target', value, (x) => x >= target), verdict('budget', value, (x) => x >= budget)],
      });
    }
  };
  getDone(100, 1.5, 1.25);
  getDone(10, 1.25, 1.0);
  getDone(1000, 1.25, 1.0);

  const c50 = 'task processing, 1 worker, concurrency 50';
  const visqTasks = find<ThroughputRow>(rows, 'throughput', c50, 'visq');
  for (const [peer, target] of [['bullmq', 10], ['bee-queue', 5]] as const) {
    const other = find<ThroughputRow>(rows, 'throughput', c50, peer);
    const value = visqTasks && other ? visqTasks.itemsPerSec.median / other.itemsPerSec.median : undefined;
    out.push({
      goal: `task processing at concurrency 50 ÷ ${peer}`,
      target: `≥ ${target}×`,
      measured: value === undefined ? 'not measured' : ratio(value),
      verdicts: [verdict('target', value, (x) => x >= target)],
    });
  }

  const latency = find<LatencyRow>(rows, 'latency', 'latency put → get', 'visq');
  out.push({
    goal: 'p99 put → get (visq)',
    target: '≤ 1.5 ms',
    measured: latency ? `${ms(latency.pooled.p99)} ms (runs ${ms(latency.p99PerRep.min)}–${ms(latency.p99PerRep.max)})` : 'not measured',
    verdicts: [verdict('target', latency?.pooled.p99, (x) => x <= 1500)],
  });

  const memory = rows.find((r): r is MemoryRow => r.kind === 'memory' && r.system === 'visq' && r.target === 'data' && !r.error);
  out.push({
    goal: 'Redis memory per queued item beyond the payload (visq)',
    target: '≤ 120 bytes',
    measured: memory ? `${fixed(memory.overheadPerItem, 1)} bytes` : 'not measured',
    verdicts: [verdict('target', memory?.overheadPerItem, (x) => x <= 120)],
  });

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

/** Per throughput row, the Redis commands per item of its median run: where the server time goes. */
export function commandBreakdown(rows: readonly ThroughputRow[]): string {
  const parts: string[] = [];
  for (const row of rows) {
    if (row.error || row.reps.length === 0) continue;
    const sorted = [...row.reps].sort((x, y) => x.itemsPerSec - y.itemsPerSec);
    const rep = sorted[sorted.length >> 1];
    if (!rep) continue;
    const lines = Object.entries(rep.commands)
      .filter(([name]) => !/^(info|config\|)/.test(name))
      .sort(([, x], [, y]) => y.usec - x.usec)
      .map(([name, stat]) => [
        name,
        fixed(stat.calls / rep.items, 3),
        fixed(stat.usec / rep.items, 3),
        fixed(stat.calls > 0 ? stat.usec / stat.calls : 0, 2),
      ]);
    const indented = lines.map(([name, ...figures]) => [`  ${name ?? ''}`, ...figures]);
    parts.push(`${row.workload} · ${row.system}\n${table(['  command', 'calls/item', 'µs/item', 'µs/call'], indented, 1)}`);
  }
  return parts.join('\n\n');
}
