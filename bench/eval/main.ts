// `fos bench`: runs the evaluation, writes the report, prints the summary.
import { mkdir, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { BENCH_LISTEN } from './subjects/tcp.js';
import { boot } from '../../src/index.js';
import { e1 } from './experiments/e1-latency.js';
import { e2 } from './experiments/e2-syscall.js';
import { e3 } from './experiments/e3-throughput.js';
import { e4 } from './experiments/e4-switch.js';
import { e5 } from './experiments/e5-fleets.js';
import type { Experiment, RunContext } from './experiments/experiment.js';
import { peers } from './experiments/peers.js';
import { describeMachine, thisMachine } from './machine.js';
import { parseOptions, USAGE, type ExperimentKey } from './options.js';
import { Progress } from './progress.js';
import { renderReport } from './report/html.js';
import type { Results } from './results.js';
import { terminalSummary } from './terminal.js';

const EXPERIMENTS: { readonly [K in ExperimentKey]: Experiment<NonNullable<Results[K]>> } = { e1, e2, e3, e4, e5, peers };

/** Runs `fos bench` with these arguments; gives the process's exit code. */
export async function runBench(argv: readonly string[]): Promise<number> {
  let options;
  try {
    options = parseOptions(argv);
  } catch (e) {
    process.stderr.write(`fos bench: ${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  if (options === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  const { budget, experiments } = options;
  const machine = thisMachine();
  process.stdout.write(`fos evaluation on ${describeMachine(machine)}${budget.mode === 'full' ? '' : ` (${budget.mode} run)`}\n`);
  const progress = new Progress(experiments.reduce((n, k) => n + EXPERIMENTS[k].ticks(budget), 0));
  const startedAt = new Date();
  const t0 = performance.now();
  const node = await boot({ name: 'bench', listen: BENCH_LISTEN });
  const measured: Partial<Record<ExperimentKey, unknown>> = {};
  try {
    let serial = 0;
    const ctx: RunContext = { env: { node, name: (what) => `/bench/${what}/${++serial}` }, budget, progress };
    for (const key of experiments) measured[key] = await EXPERIMENTS[key].run(ctx);
  } finally {
    await node.shutdown();
  }
  progress.finish();
  const results = { machine, startedAt: startedAt.toISOString(), seconds: (performance.now() - t0) / 1000, budget, ...measured } as Results;
  const out = resolve(options.out);
  await mkdir(out, { recursive: true });
  await writeFile(resolve(out, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
  await writeFile(resolve(out, 'index.html'), renderReport(results));
  process.stdout.write(`${terminalSummary(results)}\nreport: ${resolve(out, 'index.html')}\ndata:   ${resolve(out, 'results.json')}\n`);
  return 0;
}
