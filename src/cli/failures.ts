/**
 * How the CLI fails. Each class carries the process exit code it ends with, so `main`
 * maps failures to exit codes in exactly one place.
 */

/** Exit codes of `visq`, documented in the usage text and docs/cli.md. */
export const EXIT = {
  ok: 0,
  /** An operational error: item not found, bad module, a Redis command failed. */
  failure: 1,
  /** Redis could not be reached (or refused the connection, e.g. bad password). */
  connection: 2,
  /** EX_USAGE from sysexits.h: unknown command, bad option or argument. */
  usage: 64,
  /** A second SIGINT during a graceful stop: 128 + SIGINT. */
  interrupted: 130,
  /** A second SIGTERM during a graceful stop: 128 + SIGTERM. */
  terminated: 143,
} as const;

/** A failure the CLI reports as one message line on stderr. */
export class CliError extends Error {
  readonly exitCode: number;

  constructor(message: string, exitCode: number = EXIT.failure, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.exitCode = exitCode;
  }
}

/** The command line itself is wrong; the command's usage follows the message. */
export class UsageError extends CliError {
  constructor(message: string) {
    super(message, EXIT.usage);
  }
}

/** Redis could not be reached. */
export class ConnectionFailedError extends CliError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, EXIT.connection, options);
  }
}
