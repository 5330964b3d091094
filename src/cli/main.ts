#!/usr/bin/env node
/** The `fos` command. */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { FosError } from '../errors.js';
import { demo } from './demo.js';
import { callCommand, lsCommand, pingCommand, statsCommand } from './client-commands.js';
import { nodeCommand } from './node-command.js';
import { isCommand, quoted, usage, UsageError, type Command } from './usage.js';

/** `--help` or `-h` among a command's options (before a `--` that ends them). */
function helpAsked(args: string[]): boolean {
  const end = args.indexOf('--');
  return (end === -1 ? args : args.slice(0, end)).some((a) => a === '--help' || a === '-h');
}

/** `fos help [COMMAND]`: every command's usage, or that command's. */
function helpCommand(args: string[]): number {
  const [of, ...extra] = args;
  if (of === '--help' || of === '-h') {
    process.stdout.write(usage('help'));
    return 0;
  }
  if (of !== undefined && !isCommand(of)) {
    process.stderr.write(`fos: unknown command ${JSON.stringify(of)}\n${usage()}`);
    return 2;
  }
  if (extra.length > 0) throw new UsageError(`fos help takes one COMMAND, not also ${quoted(extra)}`);
  process.stdout.write(usage(of));
  return 0;
}

/** The command being run, for the usage that follows its usage errors. */
let running: Command | undefined;

async function main(argv: string[]): Promise<number> {
  const [cmd] = argv;
  if (isCommand(cmd)) running = cmd;
  // bench has options and a --help of its own.
  if (isCommand(cmd) && cmd !== 'bench' && cmd !== 'help' && helpAsked(argv.slice(1))) {
    process.stdout.write(usage(cmd));
    return 0;
  }
  switch (cmd) {
    case 'bench': {
      // The evaluation lives in bench/, beside src/ in a clone (not in the
      // published package, which has neither it nor the libraries it compares with).
      const bench = new URL('../../bench/eval/main.js', import.meta.url);
      if (!existsSync(fileURLToPath(bench))) {
        throw new FosError('ENOENT', 'fos bench runs in a clone of the fos repository, with its development dependencies (npm install; npm start): this installation has no bench/');
      }
      const { runBench } = (await import(bench.href)) as typeof import('../../bench/eval/main.js');
      return runBench(argv.slice(1));
    }
    case 'demo':
      if (argv.length > 1) throw new UsageError(`fos demo takes no arguments, got ${quoted(argv.slice(1))}`);
      await demo();
      return 0;
    case 'node':
      return nodeCommand(argv.slice(1));
    case 'ls':
      return lsCommand(argv.slice(1));
    case 'ping':
      return pingCommand(argv.slice(1));
    case 'stats':
      return statsCommand(argv.slice(1));
    case 'call':
      return callCommand(argv.slice(1));
    case 'version':
    case '--version': {
      if (argv.length > 1) throw new UsageError(`fos ${cmd} takes no arguments, got ${quoted(argv.slice(1))}`);
      const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
      process.stdout.write(`fos ${pkg.version}\n`);
      return 0;
    }
    case 'help':
      return helpCommand(argv.slice(1));
    case '--help':
    case '-h':
      process.stdout.write(usage());
      return 0;
    case undefined:
      // No command at all is a command line that cannot run: the usage, on stderr.
      process.stderr.write(usage());
      return 2;
    default:
      process.stderr.write(`fos: unknown command ${JSON.stringify(cmd)}\n${usage()}`);
      return 2;
  }
}

/** A FosError's message, and for EREMOTE what the remote handler threw: its class and code. */
function describeFosError(e: FosError): string {
  const r = e.remote;
  if (r === undefined) return e.message;
  // A thrown value that is no Error has no stack: it is said as what it is ("threw String, not an Error").
  const what = r.stack === undefined && !/Error$/.test(r.name) ? `${r.name}, not an Error` : r.name;
  return `${e.message} (the handler threw ${what}${r.code !== undefined ? ` with code ${r.code}` : ''})`;
}

/** The commands that join the cluster for a moment as a client node. */
const CLIENT_COMMANDS: ReadonlySet<Command | undefined> = new Set<Command | undefined>(['ls', 'ping', 'call', 'stats']);

// Output into a pipe whose reader left (fos demo | head) ends nothing but the output: no stack for an EPIPE.
// A client command, whose output is all it is for, ends there (fos ping | head); a node goes on serving.
for (const out of [process.stdout, process.stderr]) {
  out.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EPIPE' && e.code !== 'ERR_STREAM_DESTROYED') throw e;
    if (out === process.stdout && CLIENT_COMMANDS.has(running)) process.exit(0);
  });
}

/**
 * Exits with `code` once stdout and stderr have written what they hold. A
 * command that has said all it had to say is done: a socket its client
 * node closed to a server that never answers (a stopped node) is left its
 * second to take the close frame, and the command need not wait for it.
 */
function exitWhenWritten(code: number): void {
  process.exitCode = code;
  let left = 2;
  const written = (): void => {
    if (--left === 0) process.exit(code);
  };
  // The callback of an empty write comes once everything before it is written (or the stream failed: EPIPE).
  for (const out of [process.stdout, process.stderr]) out.write('', written);
}

main(process.argv.slice(2)).then(
  (code) => {
    if (CLIENT_COMMANDS.has(running)) exitWhenWritten(code);
    else process.exitCode = code;
  },
  (e: unknown) => {
    // A FosError says what went wrong in its code and message; a command
    // line that cannot run, what is wrong with it (parseArgs' word for an
    // unknown option) and the command's usage; anything else is a bug, with its stack.
    const code = (e as { code?: unknown } | null)?.code;
    if (e instanceof UsageError || (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS_'))) {
      process.stderr.write(`fos: ${(e as Error).message}\n${usage(running)}`);
      exitWhenWritten(2);
      return;
    }
    process.stderr.write(`fos: ${e instanceof FosError ? describeFosError(e) : e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    exitWhenWritten(1);
  },
);
