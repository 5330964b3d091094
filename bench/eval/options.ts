// `fos bench` flags, and how much each mode measures.
import type { Plan } from './timing.js';

export const EXPERIMENTS = ['e1', 'e2', 'e3', 'e4', 'e5', 'peers'] as const;
export type ExperimentKey = (typeof EXPERIMENTS)[number];

export type Mode = 'full' | 'quick' | 'smoke';

export interface Budget {
  readonly mode: Mode;
  /** Payload sizes of E1 and E3. */
  readonly sizes: readonly number[];
  /** Every latency figure: its repetitions, how long each runs, the warm-up. */
  readonly latency: Plan;
  /** One repetition of a throughput figure (E3, peers), ms. */
  readonly burstMs: number;
  /** E4: how many new pairs, each timing messages 1 to `switchMessages`. */
  readonly switchPairs: number;
  readonly switchMessages: number;
  /** E5: one repetition of loading a fleet, ms. */
  readonly fleetMs: number;
  /** Payload sizes of the peers comparison. */
  readonly peerSizes: readonly number[];
}

const SIZES = [8, 64, 1024, 16 * 1024, 256 * 1024];

/**
 * `reps` repetitions of `ms` each (and at least `minOps` operations), after
 * a warm-up of `warmupMs` and at least ten times as many; a subject's first
 * figure warms up for `firstWarmupMs`.
 */
function latency(reps: number, ms: number, warmupMs: number, firstWarmupMs: number, minOps: number, maxOps: number): Plan {
  return { reps, rep: { ms, minOps, maxOps }, warmup: { ms: warmupMs, minOps: 10 * minOps, maxOps }, firstWarmup: { ms: firstWarmupMs, minOps: 10 * minOps, maxOps } };
}

// Sized so that the default run takes about two minutes on 2 cores, --quick
// about 20 s; --smoke (for the report's test) only proves every part runs.
export const BUDGETS: Record<Mode, Budget> = {
  full: { mode: 'full', sizes: SIZES, latency: latency(5, 120, 150, 1000, 20, 500_000), burstMs: 200, switchPairs: 9, switchMessages: 100, fleetMs: 400, peerSizes: [8, 1024] },
  quick: { mode: 'quick', sizes: SIZES, latency: latency(3, 25, 40, 250, 10, 100_000), burstMs: 50, switchPairs: 3, switchMessages: 100, fleetMs: 120, peerSizes: [8, 1024] },
  smoke: { mode: 'smoke', sizes: SIZES, latency: latency(2, 4, 5, 5, 1, 10_000), burstMs: 15, switchPairs: 2, switchMessages: 100, fleetMs: 40, peerSizes: [8] },
};

export interface Options {
  readonly budget: Budget;
  /** Where index.html and results.json go. */
  readonly out: string;
  readonly experiments: readonly ExperimentKey[];
}

export const USAGE = `usage: fos bench [--quick] [--peers] [--only ${EXPERIMENTS.join(',')}] [--out DIR]

Runs the evaluation on this machine and writes DIR/index.html and DIR/results.json.
  --quick        about 20 s instead of about two minutes: fewer and shorter repetitions
  --peers        only the comparison with piscina and comlink
  --only LIST    only these experiments (comma-separated)
  --out DIR      where the report goes (default ./fos-report)
`;

/** Parses `fos bench` arguments; throws a message fit for the user on a bad one. */
export function parseOptions(argv: readonly string[]): Options | 'help' {
  let mode: Mode = 'full';
  let out = 'fos-report';
  let experiments: ExperimentKey[] = [...EXPERIMENTS];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined || v.startsWith('--')) throw new Error(`${arg} needs a value`);
      return v;
    };
    switch (arg) {
      case '--quick':
        mode = 'quick';
        break;
      case '--smoke': // undocumented: the shortest run that exercises everything, for tests
        mode = 'smoke';
        break;
      case '--peers':
        experiments = ['peers'];
        break;
      case '--only':
        experiments = value()
          .split(',')
          .map((s) => s.trim().toLowerCase())
          .map((k) => {
            if (!(EXPERIMENTS as readonly string[]).includes(k)) throw new Error(`no experiment ${JSON.stringify(k)}; there are ${EXPERIMENTS.join(', ')}`);
            return k as ExperimentKey;
          });
        break;
      case '--out':
        out = value();
        break;
      case '--help':
      case '-h':
        return 'help';
      default:
        throw new Error(`unknown option ${JSON.stringify(arg)}`);
    }
  }
  return { budget: BUDGETS[mode], out, experiments };
}
