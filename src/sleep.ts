/** Waiting a while in the library's loops (back-off, pacing), cut short by an abort. */

/** Resolves after `ms`, or at once when `signal` aborts (never rejects: the caller checks the signal). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * Waits for `work` to settle, but at most `ms`. The timer is cleared once `work` settles,
 * so that it never keeps the process alive after the wait is over.
 */
export async function settleWithin(work: Promise<unknown>, ms: number): Promise<void> {
  const settled = new AbortController();
  await Promise.race([work.then(() => undefined, () => undefined), sleep(ms, settled.signal)]);
  settled.abort();
}
