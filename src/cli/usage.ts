/**
 * What `fos` says of how it is used, and the error for a command line it
 * cannot run. Exit codes: 0 done, 1 the command ran and failed (a node
 * unreachable, a call that threw), 2 the command line is wrong (an unknown
 * option, a missing or malformed value): nothing was tried.
 */
import { bareMessage, FosError } from '../errors.js';

/** The default of `fos call --timeout`, for joining the cluster and the call together. */
export const CALL_TIMEOUT_MS = 5000;
/** The default of `fos ping --timeout`, for each round trip. */
export const PING_TIMEOUT_MS = 5000;

/** Each command's usage, as `fos help` lists it and `fos COMMAND --help` prints it. */
export const COMMAND_USAGE = {
  bench: 'run the evaluation on this machine and write a report (fos bench --help)',
  demo: 'boot a node, spawn a fleet and show the API at work',
  node: `run a node: fos node --listen HOST:PORT [--advertise HOST:PORT] [--name N] [--peers A,B]
                         [--secret-file F] [--service NAME=MODULE[:COUNT]]... [--poll]
                         [--heartbeat-ms MS (default 1000)] [--down-ms MS (default 10000, at least 3 heartbeats)]`,
  ls: "list the cluster's names: fos ls [--timeout MS, joining included (default 10000)] [--node HOST:PORT] [--secret-file F]",
  ping: `round trips to a served name: fos ping NAME [--count N] [--timeout MS, each (default ${PING_TIMEOUT_MS})]
                                 [--node HOST:PORT] [--secret-file F]`,
  call: `one call, its result as JSON: fos call NAME METHOD ['[ARGS...]'] [--timeout MS, joining included (default ${CALL_TIMEOUT_MS})]
                                 [--node HOST:PORT] [--secret-file F]`,
  stats: "a node's counters: fos stats [--json] [--timeout MS, joining included (default 10000)] [--node HOST:PORT] [--secret-file F]",
  version: "fos's version",
  help: 'this text (fos help COMMAND: that command\'s)',
} as const;

export type Command = keyof typeof COMMAND_USAGE;

/** The commands that reach a cluster, for which the note on secrets and --node is said. */
const CLUSTER_COMMANDS: ReadonlySet<Command> = new Set<Command>(['node', 'ls', 'ping', 'call', 'stats']);

const FOOTER = `The cluster secret comes from --secret-file or the FOS_SECRET environment
variable, never from the command line. --node defaults to FOS_NODE, else 127.0.0.1:7070.
`;

/** The usage of every command (`command` undefined), or of one. */
export function usage(command?: Command): string {
  const commands = command === undefined ? (Object.keys(COMMAND_USAGE) as Command[]) : [command];
  // Continuation lines are indented for the command column: 2 spaces and the name padded to 8.
  const lines = commands.map((c) => `  ${c.padEnd(8)} ${COMMAND_USAGE[c].replaceAll('\n', '\n        ')}`);
  const footer = command === undefined || CLUSTER_COMMANDS.has(command) ? `\n${FOOTER}` : '';
  return `usage: fos ${command ?? '<command>'}\n\n${command === undefined ? 'commands:\n' : ''}${lines.join('\n')}\n${footer}`;
}

export function isCommand(s: string | undefined): s is Command {
  return s !== undefined && Object.hasOwn(COMMAND_USAGE, s);
}

/** A command line that cannot run (exit code 2): EINVAL, with what was wrong; the command's usage follows it. */
export class UsageError extends FosError {
  constructor(message: string) {
    super('EINVAL', message);
  }
}

/** Arguments as a usage error quotes them: `"a" "b"`. */
export function quoted(args: readonly string[]): string {
  return args.map((a) => JSON.stringify(a)).join(' ');
}

/** Runs `check`, a check of an option's value, and makes its EINVAL a UsageError. */
export function checkedOption<T>(check: () => T): T {
  try {
    return check();
  } catch (e) {
    if (e instanceof FosError && e.code === 'EINVAL' && !(e instanceof UsageError)) throw new UsageError(bareMessage(e));
    throw e;
  }
}
