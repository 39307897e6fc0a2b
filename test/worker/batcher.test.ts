import { describe, expect, it } from 'vitest';
import { Coalescer, MAX_CALLS_PER_BATCH } from '../../src/worker/batcher.js';

describe('Coalescer', () => {
  it('sends the calls of one turn in batches of at most MAX_CALLS_PER_BATCH, each caller getting its own result', async () => {
    const coalescer = new Coalescer();
    const sent: number[][] = [];
    const double = async (items: number[]): Promise<number[]> => {
      sent.push(items);
      return items.map((n) => n * 2);
    };
    const count = 3 * MAX_CALLS_PER_BATCH + 4;
    const results = await Promise.all(Array.from({ length: count }, (_, i) => coalescer.call('double', i, double)));
    expect(results).toEqual(Array.from({ length: count }, (_, i) => i * 2));
    expect(sent.map((batch) => batch.length)).toEqual([MAX_CALLS_PER_BATCH, MAX_CALLS_PER_BATCH, MAX_CALLS_PER_BATCH, 4]);
    expect(sent.flat()).toEqual(Array.from({ length: count }, (_, i) => i));
  });

  it('keeps kinds apart, and a failed batch rejects only its own callers', async () => {
    const coalescer = new Coalescer();
    const failing = (): Promise<string[]> => Promise.reject(new Error('store down'));
    const echo = async (items: string[]): Promise<string[]> => items;
    const calls = [coalescer.call('a', 'x', failing), coalescer.call('b', 'y', echo), coalescer.call('a', 'z', failing)];
    const settled = await Promise.allSettled(calls);
    expect(settled.map((s) => s.status)).toEqual(['rejected', 'fulfilled', 'rejected']);
    expect(settled[1]).toMatchObject({ value: 'y' });
  });
});
