// What one run measured: written to results.json, read by the report and the terminal summary.
import type { E1Result } from './experiments/e1-latency.js';
import type { E2Result } from './experiments/e2-syscall.js';
import type { E3Result } from './experiments/e3-throughput.js';
import type { E4Result } from './experiments/e4-switch.js';
import type { E5Result } from './experiments/e5-fleets.js';
import type { PeersResult } from './experiments/peers.js';
import type { Machine } from './machine.js';
import type { Budget } from './options.js';

export interface Results {
  readonly machine: Machine;
  readonly startedAt: string;
  /** Wall-clock seconds the measurements took. */
  readonly seconds: number;
  readonly budget: Budget;
  readonly e1?: E1Result;
  readonly e2?: E2Result;
  readonly e3?: E3Result;
  readonly e4?: E4Result;
  readonly e5?: E5Result;
  readonly peers?: PeersResult;
}
