#!/usr/bin/env node
/** The `fos` command. */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { FosError } from '../errors.js';
import { demo } from './demo.js';
import { CALL_TIMEOUT_MS, callCommand, lsCommand, pingCommand, statsCommand } from './client-commands.js';
import { nodeCommand } from './node-command.js';

const USAGE = `usage: fos <command>

commands:
  bench    run the evaluation on this machine and write a report (fos bench --help)
  demo     boot a node, spawn a fleet and show the API at work
  node     run a node: fos node --listen HOST:PORT [--advertise HOST:PORT] [--name N] [--peers A,B]
                                 [--secret-file F] [--service NAME=MODULE[:COUNT]]... [--poll]
                                 [--heartbeat-ms MS (default 1000)] [--down-ms MS (default 10000, at least 3 heartbeats)]
  ls       list the cluster's names: fos ls [--node HOST:PORT] [--secret-file F]
  ping     round trips to a served name: fos ping NAME [--count N] [--node HOST:PORT] [--secret-file F]
  call     one call, its result as JSON: fos call NAME METHOD ['[ARGS...]'] [--timeout MS, joining included (default ${CALL_TIMEOUT_MS})]
                                         [--node HOST:PORT] [--secret-file F]
  stats    a node's counters: fos stats [--node HOST:PORT] [--secret-file F] [--json]
  help     this text

The cluster secret comes from --secret-file or the FOS_SECRET environment
variable, never from the command line. --node defaults to FOS_NODE, else 127.0.0.1:7070.
`;

async function main(argv: string[]): Promise<number> {
  const [cmd] = argv;
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
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE);
      return cmd === undefined ? 2 : 0;
    default:
      process.stderr.write(`fos: unknown command ${JSON.stringify(cmd)}\n${USAGE}`);
      return 2;
  }
}

/** A FosError's message, and for EREMOTE what the remote handler threw: its class and code. */
function describeFosError(e: FosError): string {
  const r = e.remote;
  if (r === undefined) return e.message;
  return `${e.message} (the handler threw ${r.name}${r.code !== undefined ? ` with code ${r.code}` : ''})`;
}

main(process.argv.slice(2)).then(
  (code) => (process.exitCode = code),
  (e: unknown) => {
    // A FosError says what went wrong in its code and message; a bad
    // option, what parseArgs says and the usage; anything else is a bug, with its stack.
    const code = (e as { code?: unknown } | null)?.code;
    if (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS_')) {
      process.stderr.write(`fos: ${(e as Error).message}\n${USAGE}`);
      process.exitCode = 2;
      return;
    }
    process.stderr.write(`fos: ${e instanceof FosError ? describeFosError(e) : e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = 1;
  },
);
