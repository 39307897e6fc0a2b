/**
 * Concurrent claimers on PostgreSQL: readers in several processes' worth of stores (each
 * its own pool) read the same queue at once, in batches, and never share an item: every
 * item is handed out once (at most once), or held by one lease at a time (leased reads).
 */
import { describe, expect, it } from 'vitest';
import type { DataQueue } from '../../../src/index.js';
import { usePostgres } from './helpers.js';

const pgx = usePostgres();

const ITEMS = 3000;

/** `readers` queues on `stores` stores (round robin), all on the test's queue 'q'. */
function readers(stores: number, readers: number, options: { visTimeout?: number } = {}): DataQueue<number>[] {
  const all = Array.from({ length: stores }, () => pgx.store());
  return Array.from({ length: readers }, (_, i) => pgx.queue<number>('q', options, all[i % stores]));
}

async function fill(): Promise<void> {
  await pgx.queue<number>().putData(Array.from({ length: ITEMS }, (_, i) => i));
}

describe('concurrent claimers', () => {
  it('hand each item to exactly one of many at-most-once readers', async () => {
    await fill();
    const got: number[][] = [];
    await Promise.all(
      readers(4, 12).map(async (queue, i) => {
        got[i] = [];
        for (;;) {
          const batch = await queue.getData(1 + (i % 4) * 33);
          if (batch.size === 0) return;
          got[i]?.push(...batch.values());
        }
      }),
    );
    const all = got.flat().sort((a, b) => a - b);
    expect(all).toEqual(Array.from({ length: ITEMS }, (_, i) => i));
    expect(got.filter((items) => items.length > 0).length).toBeGreaterThan(1);
  });

  it('never lease one item to two readers, and finish each once', async () => {
    await fill();
    const holder = new Map<number, number>();
    let overlaps = 0;
    let finished = 0;
    await Promise.all(
      readers(4, 12, { visTimeout: 60 }).map(async (queue, i) => {
        for (;;) {
          const batch = await queue.getData(1 + (i % 4) * 33);
          if (batch.size === 0) return;
          for (const item of batch.values()) {
            if (holder.has(item)) overlaps += 1;
            holder.set(item, i);
          }
          // yield, so other readers claim while this batch is held
          await new Promise((resolve) => setImmediate(resolve));
          const done = await queue.doneData(batch);
          finished += done;
        }
      }),
    );
    expect(overlaps).toBe(0);
    expect(finished).toBe(ITEMS);
    expect(holder.size).toBe(ITEMS);
    expect(await pgx.queue().stats()).toMatchObject({ ready: 0, inflight: 0, dones: ITEMS, deliveries: ITEMS });
  });

  it('deliver in priority order to readers racing for the head', async () => {
    const queue = pgx.queue<number>();
    await queue.putData(Array.from({ length: 500 }, (_, i) => i), { priority: -1 });
    await queue.putData(Array.from({ length: 500 }, (_, i) => 1000 + i), { priority: 1 });
    const firsts = await Promise.all(readers(2, 8).map((reader) => reader.getData(50)));
    const read = firsts.flatMap((batch) => [...batch.values()]);
    // 400 of the 500 high-priority items, and none of the low ones
    expect(read).toHaveLength(400);
    expect(read.every((n) => n >= 1000)).toBe(true);
  });
});
