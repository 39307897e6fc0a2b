/**
 * Deduplicated enqueues (docs/dedupe.md): execute / executeMany with `dedupe`, and keys
 * held until done freed by a task's completion, its final failure and its cancel.
 */
import { describe, expect, it } from 'vitest';
import { VisqRangeError, VisqTypeError } from '../../src/index.js';
import { useStore } from '../harness/context.js';
import { until, useTaskApps } from './helpers.js';

const ctx = useStore();
const t = useTaskApps(ctx);

describe('Task.execute with dedupe', () => {
  it('enqueues once per key; a duplicate handle carries the holder id and waits for it', async () => {
    const app = t.app();
    const ran: number[] = [];
    const charge = app.task('charge', (amount: number) => {
      ran.push(amount);
      return amount;
    }, { saveResults: 60 });
    const first = await charge.execute([42], { dedupe: { key: 'charge-42', window: 600 } });
    const second = await charge.execute([43], { dedupe: { key: 'charge-42', window: 600 } });
    expect(first.duplicate).toBe(false);
    expect(second.duplicate).toBe(true);
    expect(second.id).toBe(first.id);
    t.worker(app);
    expect(await second.wait(10)).toBe(true);
    expect(await second.result()).toBe(42);
    expect(ran).toEqual([42]);
    // the window outlives the run
    expect((await charge.execute([44], { dedupe: { key: 'charge-42', window: 600 } })).duplicate).toBe(true);
  });

  it('executeMany collapses keys inside the call and answers in input order', async () => {
    const app = t.app();
    const job = app.task('job', (n: number) => n);
    const handles = await job.executeMany([[1], [2], [1], [3]], { dedupe: { key: (args) => `n${String(args[0])}`, window: 60 } });
    expect(handles.map((h) => h.duplicate)).toEqual([false, false, true, false]);
    expect(handles[2]?.id).toBe(handles[0]?.id);
    expect(await app.queue().stats()).toMatchObject({ ready: 3 });
    const content = await job.executeMany([[7], [7]], { dedupe: { key: 'content', window: 60 } });
    expect(content.map((h) => h.duplicate)).toEqual([false, true]);
  });

  it("until: 'done' frees the key when the task is done", async () => {
    const app = t.app();
    const job = app.task('job', () => 'ok', { visTimeout: 5 });
    const dedupe = { key: 'k', window: 3600, until: 'done' as const };
    const first = await job.execute([], { dedupe });
    expect((await job.execute([], { dedupe })).duplicate).toBe(true);
    const worker = t.worker(app);
    expect(await first.wait(10)).toBe(true);
    await worker.close();
    const next = await job.execute([], { dedupe });
    expect(next.duplicate).toBe(false);
    expect(next.id).not.toBe(first.id);
  });

  it("until: 'done' frees the key when the task fails for good, and keeps it across retries", async () => {
    const app = t.app();
    let runs = 0;
    const seen: boolean[] = [];
    const dedupe = { key: 'k', window: 3600, until: 'done' as const };
    const queue = (): ReturnType<typeof app.queue> => app.queue();
    const job = app.task('job', async () => {
      runs += 1;
      // while the task is retried its key stays held
      seen.push((await queue().dedupe.get('k')) !== undefined);
      throw new Error('nope');
    }, { visTimeout: 5, attempts: 2 });
    const first = await job.execute([], { dedupe });
    t.worker(app);
    expect(await first.wait(10)).toBe(true);
    expect(await first.status()).toBe('failed');
    expect(runs).toBe(2);
    expect(seen).toEqual([true, true]);
    await until('the key is free', async () => (await app.queue().dedupe.get('k')) === undefined);
    expect((await job.execute([], { dedupe })).duplicate).toBe(false);
  });

  it("until: 'done' frees the key when the task is cancelled", async () => {
    const app = t.app();
    const job = app.task('job', () => undefined);
    const dedupe = { key: 'k', window: 3600, until: 'done' as const };
    const first = await job.execute([], { dedupe, delay: 60 });
    expect((await job.execute([], { dedupe })).duplicate).toBe(true);
    expect(await first.cancel()).toBe(true);
    expect(await app.queue().dedupe.get('k')).toBeUndefined();
    expect((await job.execute([], { dedupe })).duplicate).toBe(false);
  });

  it('rejects bad dedupe options before enqueueing anything', async () => {
    const app = t.app();
    const job = app.task('job', (n: number) => n);
    await expect(job.execute([1], { dedupe: { key: '', window: 1 } })).rejects.toBeInstanceOf(VisqRangeError);
    await expect(job.execute([1], { dedupe: { key: 'k', window: -1 } })).rejects.toThrow(/opts\.dedupe\.window/);
    await expect(job.executeMany([[1], [2]], { dedupe: { key: (args) => (args[0] === 2 ? (2 as unknown as string) : 'a') } })).rejects.toBeInstanceOf(
      VisqTypeError,
    );
    expect(await app.queue().stats()).toMatchObject({ ready: 0, delayed: 0 });
  });
});
