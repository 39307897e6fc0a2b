/**
 * A MemoryStore queue as plain data for test snapshots: sorted, so that it does not
 * depend on heap layout, and without empty parts, so that a queue holding nothing dumps
 * as nothing (as Redis then has no keys).
 */
import { comparing, deliveryOrder, dueOrder, type StoredItem } from './items.js';
import type { QueueContents } from './queue-state.js';

function recordOf(item: StoredItem): Record<string, unknown> {
  const { seq, id, deliveries, priority, ttlMs, meta, payload } = item;
  return { seq, id, deliveries, priority, ttlMs, ...(meta === '' ? {} : { meta }), payload };
}

function byText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The dump of one queue, or undefined when it holds nothing. */
export function dumpQueue(contents: QueueContents): Record<string, unknown> | undefined {
  const parts: Record<string, unknown> = {};
  const meta = Object.fromEntries(Object.entries(contents.meta).filter(([, value]) => value !== undefined && value !== 0));
  if (Object.keys(meta).length > 0) parts.meta = meta;
  const visible = [...contents.visible]
    .sort(comparing(deliveryOrder))
    .map((item) => ({ ...recordOf(item), expiresAt: item.ttlMark?.expiresAt }));
  if (visible.length > 0) parts.visible = visible;
  const delayed = [...contents.delayed]
    .sort(comparing(dueOrder))
    .map((item) => ({ visibleAt: item.visibleAt, ...recordOf(item) }));
  if (delayed.length > 0) parts.delayed = delayed;
  const inflight = [...contents.inflight]
    .sort(([a], [b]) => byText(a, b))
    .map(([lease, item]) => ({ lease, entry: item.owner?.name, ...recordOf(item) }));
  if (inflight.length > 0) parts.inflight = inflight;
  const entries = [...contents.entries]
    .sort((a, b) => a.number - b.number)
    .map(({ name, deadline, attempts, useDead, leases }) => ({
      entry: name,
      deadline,
      attempts,
      useDead,
      leases: [...leases].sort(byText),
    }));
  if (entries.length > 0) parts.entries = entries;
  return Object.keys(parts).length > 0 ? parts : undefined;
}
