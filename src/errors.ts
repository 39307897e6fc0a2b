/**
 * Every failure visq raises is an instance of a class exported here, with a stable `code`.
 *
 * Bad arguments are `TypeError` (wrong kind of value) or `RangeError` (right kind, out of
 * range) — the built-in classes users already test for — through the subclasses
 * {@link VisqTypeError} and {@link VisqRangeError}. Everything else is a {@link VisqError}.
 * @module
 */

/** Stable machine-readable codes carried by visq errors. */
export type VisqErrorCode =
  | 'ERR_VISQ_INVALID_TYPE'
  | 'ERR_VISQ_OUT_OF_RANGE'
  | 'ERR_VISQ_CLOSED'
  | 'ERR_VISQ_STORE'
  | 'ERR_VISQ_STORE_FULL'
  | 'ERR_VISQ_CORRUPT'
  | 'ERR_VISQ_FORMAT'
  | 'ERR_VISQ_TASK'
  | 'ERR_VISQ_TIMEOUT';

/** Base class of every visq failure that is not an argument error. */
export class VisqError extends Error {
  /** Stable code; safe to switch on. */
  readonly code: VisqErrorCode;

  constructor(message: string, code: VisqErrorCode = 'ERR_VISQ_STORE', options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** An argument of the wrong type, such as a count that is not a number. */
export class VisqTypeError extends TypeError {
  /** Always `'ERR_VISQ_INVALID_TYPE'`. */
  readonly code = 'ERR_VISQ_INVALID_TYPE' as const;

  constructor(message: string) {
    super(message);
    this.name = 'VisqTypeError';
  }
}

/** An argument of the right type but outside its accepted range. */
export class VisqRangeError extends RangeError {
  /** Always `'ERR_VISQ_OUT_OF_RANGE'`. */
  readonly code = 'ERR_VISQ_OUT_OF_RANGE' as const;

  constructor(message: string) {
    super(message);
    this.name = 'VisqRangeError';
  }
}

/** The queue, app or worker was closed before or during the call. */
export class ClosedError extends VisqError {
  constructor(what: string) {
    super(`${what} is closed`, 'ERR_VISQ_CLOSED');
  }
}

/** The store (Redis) failed the operation; `cause` holds the original error. */
export class StoreError extends VisqError {
  constructor(message: string, options?: { cause?: unknown }, code: VisqErrorCode = 'ERR_VISQ_STORE') {
    super(message, code, options);
  }
}

/**
 * Redis refused a write because it is out of memory (`maxmemory` with `noeviction`).
 * Nothing of the rejected call was written; what was stored before is intact.
 */
export class StoreFullError extends StoreError {
  constructor(options?: { cause?: unknown }) {
    super('Redis is out of memory (maxmemory reached); nothing was written', options, 'ERR_VISQ_STORE_FULL');
  }
}

/** A stored record could not be decoded: something other than visq wrote to visq's keys. */
export class CorruptRecordError extends VisqError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 'ERR_VISQ_CORRUPT', options);
  }
}

/**
 * The queue's stored data has a format this visq does not read: another, incompatible
 * visq version wrote it. Nothing was changed. See docs/operations.md, "Upgrading".
 */
export class IncompatibleFormatError extends StoreError {
  /** The format the queue's data has ('none': written before formats were recorded). */
  readonly found: string;
  /** The format this visq reads and writes. */
  readonly expected: number;

  constructor(found: string, expected: number, options?: { cause?: unknown }) {
    super(
      `This queue's data has format ${found === 'none' ? 'none (written by a visq older than 0.1.0)' : found}; ` +
        `this visq reads format ${expected} only, and changed nothing. Run a visq of the queue's format ` +
        'until the queue is drained, or give the new version its own prefix (docs/operations.md, "Upgrading")',
      options,
      'ERR_VISQ_FORMAT',
    );
    this.found = found;
    this.expected = expected;
  }
}
