/** Waiting a while in the library's loops (back-off, pacing, timeouts), cut short by an abort. */

/**
 * The longest delay Node's timers take (2^31 - 1 ms, about 24.8 days): a longer one fires
 * at once. Longer waits are made of several timers in a row.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Calls `fn` once `ms` have passed, however long that is (chained timers past
 * MAX_TIMER_MS). Returns a function that cancels it.
 */
export function after(ms: number, fn: () => void): () => void {
  let timer: NodeJS.Timeout;
  const arm = (left: number): void => {
    timer = setTimeout(() => (left > MAX_TIMER_MS ? arm(left - MAX_TIMER_MS) : fn()), Math.min(Math.max(0, left), MAX_TIMER_MS));
  };
  arm(ms);
  return () => clearTimeout(timer);
}

/** Resolves after `ms`, or at once when `signal` aborts (never rejects: the caller checks the signal). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = (): void => {
      cancel();
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const cancel = after(ms, done);
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

/** What {@link within} resolves to when the time ran out or the signal aborted first. */
export const TIMED_OUT: unique symbol = Symbol('visq.timedOut');

/**
 * `work`'s value, or TIMED_OUT once `ms` have passed or `signal` aborts, whichever comes
 * first; `work`'s rejection rejects. The timer is cleared as soon as it is decided.
 */
export async function within<T>(work: Promise<T>, ms: number, signal?: AbortSignal): Promise<T | typeof TIMED_OUT> {
  const stop = new AbortController();
  const timedOut = sleep(ms, signal ? AbortSignal.any([signal, stop.signal]) : stop.signal).then((): typeof TIMED_OUT => TIMED_OUT);
  try {
    return await Promise.race([work, timedOut]);
  } finally {
    stop.abort();
  }
}
