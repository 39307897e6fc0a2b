/**
 * How busy the whole machine is, from /proc/stat (Linux), so that a run disturbed by
 * other processes says so instead of passing for a slow system.
 */
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';

export interface CpuSample {
  /** Jiffies spent busy (everything but idle and iowait), over all cores. */
  readonly busy: number;
  readonly total: number;
}

/** Undefined where /proc/stat cannot be read. */
export function sampleCpu(): CpuSample | undefined {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? '';
    const fields = line.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal (guest time is already in user)
    const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = fields;
    const busy = user + nice + system + irq + softirq + steal;
    return { busy, total: busy + idle + iowait };
  } catch {
    return undefined;
  }
}

/** Cores kept busy on average between two samples. */
export function busyCores(before: CpuSample | undefined, after: CpuSample | undefined): number {
  if (!before || !after || after.total <= before.total) return Number.NaN;
  return ((after.busy - before.busy) / (after.total - before.total)) * cpus().length;
}

/** Cores busy over the next `ms` milliseconds. */
export async function measureLoad(ms: number): Promise<number> {
  const before = sampleCpu();
  await new Promise((resolve) => setTimeout(resolve, ms));
  return busyCores(before, sampleCpu());
}
