/** The goals of the `postgres` workload: visq-postgres over pg-boss and graphile-worker, measured in the same run. */
import type { Goal } from '../goals.js';
import type { Row } from '../report.js';
import type { SystemName } from '../protocol.js';
import type { ThroughputRow } from '../throughput.js';

function find(rows: readonly Row[], workload: string, system: SystemName): ThroughputRow | undefined {
  return rows.find(
    (r): r is ThroughputRow => r.kind === 'throughput' && r.workload.startsWith(workload) && r.system === system && !r.error,
  );
}

export function postgresGoals(rows: readonly Row[]): Goal[] {
  const out: Goal[] = [];
  const versus = (workload: string, label: string, peer: SystemName, target: number): void => {
    const visq = find(rows, workload, 'visq-postgres');
    const other = find(rows, workload, peer);
    const value = visq && other ? visq.itemsPerSec.median / other.itemsPerSec.median : undefined;
    out.push({
      goal: `postgres: ${label} ÷ ${peer}`,
      target: `≥ ${target}×`,
      measured: value === undefined ? 'not measured' : `${value.toFixed(2)}×`,
      verdicts: [{ source: 'target', met: value === undefined || !Number.isFinite(value) ? undefined : value >= target }],
    });
  };
  versus('postgres: get+done, batches of 100,', 'get+done ×100, 4 consumers', 'pg-boss', 5);
  versus('postgres: get+done, batches of 100,', 'get+done ×100, 4 consumers', 'graphile-worker', 3);
  versus('postgres: task processing', 'task processing at concurrency 50', 'graphile-worker', 2);
  return out;
}
