// The machine a run measured, which heads the report and the terminal output.
import { availableParallelism, cpus, totalmem } from 'node:os';

export interface Machine {
  readonly cpu: string;
  /** Cores this process may run on (its affinity), which is what the fleets of E5 are sized by. */
  readonly cores: number;
  readonly memoryGiB: number;
  readonly node: string;
  readonly platform: string;
}

export function thisMachine(): Machine {
  return {
    cpu: (cpus()[0]?.model ?? 'unknown CPU').replace(/\s+/g, ' ').trim(),
    cores: availableParallelism(),
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    platform: `${process.platform}/${process.arch}`,
  };
}

export function describeMachine(m: Machine): string {
  return `${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, Node.js ${m.node}, ${m.platform}`;
}
