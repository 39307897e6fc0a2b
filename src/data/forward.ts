/**
 * forward(): moves the items of one queue into another, typically on another Redis (a
 * local buffer shipped to a central instance, or a migration). Ready items are read under
 * a lease, put to the target, then done on the source, so a forwarder that dies between
 * put and done duplicates the batch in the target and never loses it. Dead letters are
 * copied before they are taken (see forwardDead) for the same reason.
 */
import { setMaxListeners } from 'node:events';
import { VisqRangeError } from '../errors.js';
import { sleep } from '../sleep.js';
import * as check from '../validate.js';
import { MAX_BATCH } from './options.js';
import { DataQueue, doneReporting, peekCarrying, putCarrying, readKeepingAttempts } from './queue.js';

/** Options of {@link forward}. */
export interface ForwardOptions {
  /**
   * Also move the source's dead letters into the target's dead-letter queue, once the
   * source has no visible item left. Default `false`.
   */
  dead?: boolean;
  /** Most items moved per second (> 0); each read then takes at most that many. Default: no limit. */
  rate?: number;
  /** Items per read and put, 1 to 1000. Default 100. */
  batch?: number;
  /**
   * Seconds a batch stays leased on the source while it is copied (> 0). If the
   * forwarder dies, the batch becomes visible on the source again after this long.
   * Default 30.
   */
  visTimeout?: number;
  /**
   * Keep going: wait (without polling) for new items once the source is empty, until
   * `signal` aborts. Default `false`: return once the source has nothing visible.
   */
  follow?: boolean;
  /** Stops forwarding after the batch under way; `forward` then resolves with `stopped: 'aborted'`. */
  signal?: AbortSignal;
  /** Called after every batch moved. */
  onProgress?: (progress: ForwardProgress) => void;
}

/** Counts so far, passed to {@link ForwardOptions.onProgress}. */
export interface ForwardProgress {
  /** Items moved so far: `ready + dead`. */
  readonly moved: number;
  /** Items moved from the source queue into the target queue. */
  readonly ready: number;
  /** Dead letters moved from the source's dead-letter queue into the target's. */
  readonly dead: number;
  /** Seconds since `forward` started. */
  readonly elapsed: number;
  /** What the last batch moved. */
  readonly phase: 'ready' | 'dead';
}

/** What {@link forward} did. */
export interface ForwardResult extends Omit<ForwardProgress, 'phase'> {
  /**
   * Items put to the target whose source lease had expired before they were done (the
   * forwarder stalled longer than `visTimeout`): they may be put to the target again.
   */
  readonly stale: number;
  /** `drained`: the source had nothing visible left; `aborted`: `signal` stopped it. */
  readonly stopped: 'drained' | 'aborted';
}

/** How long one blocking read waits with `follow`, in seconds, before dead letters are checked again. */
const FOLLOW_WAIT_SECONDS = 5;

interface Settings {
  readonly dead: boolean;
  readonly rate: number;
  readonly batch: number;
  readonly visTimeout: number;
  readonly follow: boolean;
  readonly signal: AbortSignal | undefined;
  readonly onProgress: ((progress: ForwardProgress) => void) | undefined;
}

function forwardSettings(value: unknown): Settings {
  const opts = check.options('options', value, ['dead', 'rate', 'batch', 'visTimeout', 'follow', 'signal', 'onProgress']);
  let rate = Number.POSITIVE_INFINITY;
  if (opts.rate !== undefined) {
    const expected = 'a number of items per second greater than 0';
    if (typeof opts.rate !== 'number') throw check.typeError('options.rate', expected, opts.rate);
    if (!(opts.rate > 0) || !Number.isFinite(opts.rate)) throw check.rangeError('options.rate', expected, opts.rate);
    rate = opts.rate;
  }
  if (opts.onProgress !== undefined && typeof opts.onProgress !== 'function') {
    throw check.typeError('options.onProgress', 'a function', opts.onProgress);
  }
  return {
    dead: opts.dead === undefined ? false : check.boolean('options.dead', opts.dead),
    rate,
    batch: opts.batch === undefined ? 100 : check.integerIn('options.batch', opts.batch, 1, MAX_BATCH),
    visTimeout:
      opts.visTimeout === undefined ? 30 : check.seconds('options.visTimeout', opts.visTimeout, { exclusiveMin: true }),
    follow: opts.follow === undefined ? false : check.boolean('options.follow', opts.follow),
    signal: opts.signal === undefined ? undefined : check.abortSignal('options.signal', opts.signal),
    onProgress: opts.onProgress as Settings['onProgress'],
  };
}

/**
 * Moves the visible items of `source` into `target` (and with `dead`, the source's dead
 * letters into the target's dead-letter queue), in the source's delivery order, at least
 * once: each batch is read under a lease of `visTimeout` seconds, put to the target, then
 * done on the source. A forwarder that dies after a put and before its done leaves that
 * batch in both queues; the source copy comes back when the lease expires and is moved
 * again. Nothing is lost.
 *
 * The items arrive as new items: with priority 0, no delay or ttl, and fresh attempts,
 * but with their metadata (the trace context they were put under). Forwarding makes no
 * spans of its own.
 * Delayed and in-flight items of the source are not moved until they become visible
 * (with `follow`, as they do).
 *
 * The forwarder's lease never spends an item's attempt should it die holding a batch:
 * its reads do not count against the source handle's `attempts` (the items come back and
 * are moved again). The source handle's settings do not matter; the target's
 * `maxItemBytes` applies to the puts.
 *
 * When a put fails, the batch is handed back to the source at once (no attempt used) and
 * the error is thrown.
 *
 * @throws TypeError / RangeError for a bad argument.
 */
export async function forward<T>(
  source: DataQueue<T>,
  target: DataQueue<T>,
  options?: ForwardOptions,
): Promise<ForwardResult> {
  if (!(source instanceof DataQueue)) throw check.typeError('source', 'a DataQueue', source);
  if (!(target instanceof DataQueue)) throw check.typeError('target', 'a DataQueue', target);
  if (source === target) throw new VisqRangeError('Expected `target` to be another queue than `source`, got the same DataQueue');
  const settings = forwardSettings(options);
  // reads and sleeps listen to a signal of our own, so the caller's gets one listener
  const stopping = new AbortController();
  const signal = stopping.signal;
  setMaxListeners(0, signal);
  const stop = (): void => stopping.abort();
  if (settings.signal?.aborted) stop();
  settings.signal?.addEventListener('abort', stop, { once: true });
  try {
    return await new Forwarder(source, target, settings, signal).run();
  } finally {
    settings.signal?.removeEventListener('abort', stop);
  }
}

/** One forward run: its settings, counts and the dead letters it copied. */
class Forwarder<T> {
  readonly #source: DataQueue<T>;
  readonly #target: DataQueue<T>;
  readonly #settings: Settings;
  readonly #signal: AbortSignal;
  readonly #started = performance.now();
  /** Items per read: the batch, or fewer so that `rate` is met in steps of about a second. */
  readonly #perRead: number;
  readonly #counts = { ready: 0, dead: 0, stale: 0 };
  /** Ids put to target.dead but not yet taken from source.dead: one run never puts them twice. */
  readonly #copiedDead = new Set<string>();

  constructor(source: DataQueue<T>, target: DataQueue<T>, settings: Settings, signal: AbortSignal) {
    this.#source = source;
    this.#target = target;
    this.#settings = settings;
    this.#signal = signal;
    this.#perRead = Math.min(settings.batch, Math.max(1, Math.floor(settings.rate)));
  }

  async run(): Promise<ForwardResult> {
    const { dead, follow } = this.#settings;
    while (!this.#signal.aborted) {
      await this.#paced();
      if (this.#signal.aborted) break;
      if ((await this.#forwardReady(0)) > 0) continue;
      if (dead && (await this.#forwardDead()) > 0) continue;
      if (!follow) break;
      // a bounded wait, so that dead letters are looked at again now and then
      await this.#forwardReady(FOLLOW_WAIT_SECONDS);
    }
    const { ready, dead: deadMoved, stale } = this.#counts;
    return {
      moved: ready + deadMoved,
      ready,
      dead: deadMoved,
      stale,
      elapsed: this.#elapsed(),
      stopped: this.#signal.aborted ? 'aborted' : 'drained',
    };
  }

  #elapsed(): number {
    return (performance.now() - this.#started) / 1000;
  }

  #report(phase: ForwardProgress['phase']): void {
    const { ready, dead } = this.#counts;
    this.#settings.onProgress?.({ moved: ready + dead, ready, dead, elapsed: this.#elapsed(), phase });
  }

  /** Waits until the items moved so far are due at `rate`. */
  async #paced(): Promise<void> {
    const { rate } = this.#settings;
    if (rate === Number.POSITIVE_INFINITY) return;
    const moved = this.#counts.ready + this.#counts.dead;
    const dueMs = (moved / rate) * 1000 - (performance.now() - this.#started);
    if (dueMs > 0) await sleep(dueMs, this.#signal);
  }

  /** Moves one batch of visible items (waiting up to `wait` seconds for one); returns how many. */
  async #forwardReady(wait: number): Promise<number> {
    const deliveries = await this.#source[readKeepingAttempts](this.#perRead, {
      visTimeout: this.#settings.visTimeout,
      ...(wait > 0 ? { wait, signal: this.#signal } : {}),
    });
    if (deliveries.length === 0) return 0;
    const leases = deliveries.map((d) => d.lease);
    try {
      await this.#target[putCarrying](
        deliveries.map((d) => d.item),
        deliveries.map((d) => d.meta),
      );
    } catch (error) {
      // if the hand-back fails too, the leases expire and the items come back by themselves
      await this.#source.releaseData(leases, { countDelivery: false }).catch(() => undefined);
      throw error;
    }
    const done = (await this.#source[doneReporting](leases)).size;
    this.#counts.ready += deliveries.length;
    this.#counts.stale += deliveries.length - done;
    this.#report('ready');
    return deliveries.length;
  }

  /**
   * Moves one batch of dead letters; returns how many. A dead-letter queue reads with one
   * attempt and no dead letters of its own, so a lease on it that expires drops the item:
   * a leased read would lose the batch to a crash. Instead the next dead letters are
   * peeked, put to the target, and only then taken (read and removed), so a crash in
   * between leaves them in both. What the take returns that was not peeked (the queue
   * changed in between) is put at once.
   */
  async #forwardDead(): Promise<number> {
    const source = this.#source.dead;
    const target = this.#target.dead;
    const peeked = await source[peekCarrying](this.#perRead);
    if (peeked.length === 0) return 0;
    const fresh = peeked.filter(({ id }) => !this.#copiedDead.has(id));
    if (fresh.length > 0) {
      await target[putCarrying](
        fresh.map((p) => p.item),
        fresh.map((p) => p.meta),
      );
      for (const { id } of fresh) this.#copiedDead.add(id);
    }
    const taken = await source[readKeepingAttempts](peeked.length, { visTimeout: 0 });
    const unseen = taken.filter((d) => !this.#copiedDead.has(d.id));
    if (unseen.length > 0) {
      await target[putCarrying](
        unseen.map((d) => d.item),
        unseen.map((d) => d.meta),
      );
    }
    for (const d of taken) this.#copiedDead.delete(d.id);
    this.#counts.dead += taken.length;
    if (taken.length > 0) this.#report('dead');
    return taken.length;
  }
}
