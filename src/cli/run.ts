/**
 * `visq`: picks the command, runs it, and turns every failure into a message on stderr
 * and an exit code (see EXIT). Kept apart from main.ts so that it has no side effects.
 */
import { VERSION } from '../version.js';
import type { Command } from './commands/shared.js';
import { CliError, EXIT, UsageError } from './failures.js';
import type { Output } from './output.js';
import { nearest } from './suggest.js';
import { COMMAND_USAGE, MAIN_USAGE, type CommandName } from './usage.js';

// loaded on demand: help and usage errors then answer without loading ioredis and the library
const COMMANDS: Record<CommandName, () => Promise<Command>> = {
  worker: async () => (await import('./commands/worker.js')).workerCommand,
  stats: async () => (await import('./commands/stats.js')).statsCommand,
  peek: async () => (await import('./commands/peek.js')).peekCommand,
  dead: async () => (await import('./commands/dead.js')).deadCommand,
  inspect: async () => (await import('./commands/inspect.js')).inspectCommand,
  forward: async () => (await import('./commands/forward.js')).forwardCommand,
  serve: async () => (await import('./commands/serve.js')).serveCommand,
};

function isCommand(name: string): name is CommandName {
  return Object.hasOwn(COMMANDS, name);
}

/** `; did you mean "stats"?` when `typed` looks like a typo of one of `words`, else nothing. */
function suggestion(typed: string, words: readonly string[] = [...Object.keys(COMMANDS), 'help']): string {
  const meant = nearest(typed, words);
  return meant === undefined ? '' : `; did you mean ${JSON.stringify(meant)}?`;
}

function usageError(io: Output, message: string, usage: string, command?: CommandName): number {
  io.err(`${command ? `visq ${command}` : 'visq'}: ${message}`);
  io.err('');
  io.err(usage);
  return EXIT.usage;
}

/** The `Usage:` lines of a command's help, and where the rest is. */
function synopsis(command: CommandName): string {
  const [lines = ''] = COMMAND_USAGE[command].split('\n\n');
  return `${lines}\nRun \`visq ${command} --help\` for its options.`;
}

function report(io: Output, command: CommandName, error: unknown): number {
  if (error instanceof UsageError) return usageError(io, error.message, synopsis(command), command);
  const message = error instanceof Error ? error.message : String(error);
  io.err(`visq ${command}: ${message}`);
  return error instanceof CliError ? error.exitCode : EXIT.failure;
}

/** Runs the command line `argv` (without `node` and the script) and resolves to the exit code. */
export async function run(argv: readonly string[], io: Output): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined) return usageError(io, 'missing command', MAIN_USAGE);
  if (first === '-h' || first === '--help') {
    io.out(MAIN_USAGE);
    return EXIT.ok;
  }
  if (first === '-V' || first === '--version') {
    io.out(VERSION);
    return EXIT.ok;
  }
  if (first === 'help') {
    const [topic, ...extra] = rest;
    if (topic === undefined) {
      io.out(MAIN_USAGE);
      return EXIT.ok;
    }
    if (!isCommand(topic) || extra.length > 0) {
      return usageError(io, `no help for ${JSON.stringify(rest.join(' '))}${extra.length > 0 ? '' : suggestion(topic, Object.keys(COMMANDS))}`, MAIN_USAGE);
    }
    io.out(COMMAND_USAGE[topic]);
    return EXIT.ok;
  }
  if (!isCommand(first)) {
    return usageError(io, `unknown command ${JSON.stringify(first)}${suggestion(first)}`, MAIN_USAGE);
  }
  try {
    const command = await COMMANDS[first]();
    return await command(rest, io);
  } catch (error) {
    return report(io, first, error);
  }
}
