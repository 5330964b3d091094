#!/usr/bin/env node
/** The `fos` command. */
import { demo } from './demo.js';

const USAGE = `usage: fos <command>

commands:
  bench    run the evaluation on this machine and write a report (fos bench --help)
  demo     boot a node, spawn a fleet and show the API at work
  help     this text
`;

async function main(argv: string[]): Promise<number> {
  const [cmd] = argv;
  switch (cmd) {
    case 'bench': {
      // The evaluation lives in bench/, beside src/ in a clone (not in the published package).
      const { runBench } = await import('../../bench/eval/main.js');
      return runBench(argv.slice(1));
    }
    case 'demo':
      await demo();
      return 0;
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

main(process.argv.slice(2)).then(
  (code) => (process.exitCode = code),
  (e: unknown) => {
    process.stderr.write(`fos: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = 1;
  },
);
