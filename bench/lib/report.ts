/**
 * The printed tables (the goals are in goals.ts). Every peer row carries visq ÷ peer for
 * the same workload in the same run: items/s over items/s, and for Redis cost the peer's
 * µs per item over visq's (how many more items visq gets out of a Redis CPU second).
 */
import type { SystemName } from './protocol.js';
import type { DepthRow } from './workloads/depth.js';
import type { LatencyRow } from './workloads/latency.js';
import type { MemoryRow } from './workloads/memory.js';
import { PROFILE_LABEL } from './workloads/tasks.js';
import type { ThroughputRow } from './throughput.js';

export type Row = ThroughputRow | LatencyRow | MemoryRow | DepthRow;

export const int = (x: number): string => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '—');
export const fixed = (x: number, digits = 2): string => (Number.isFinite(x) ? x.toFixed(digits) : '—');
export const ratio = (x: number): string => (Number.isFinite(x) ? `${x.toFixed(2)}×` : '—');
export const ms = (us: number): string => (Number.isFinite(us) ? (us / 1000).toFixed(3) : '—');

/** Right-aligns every column but the first `left` ones. */
export function table(header: readonly string[], rows: readonly (readonly string[])[], left = 2): string {
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
    row.target === 'data' ? 'data item' : `task, ${PROFILE_LABEL[row.profile ?? 'defaults']}`,
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
