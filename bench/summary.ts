// Summaries of timing samples: medians over repetitions, tail, spread.
import { cpus, totalmem } from 'node:os';

export interface Summary {
  /** Median of all samples, µs per operation. */
  readonly median: number;
  readonly p99: number;
  /** Lowest and highest median of a single repetition: the spread between runs. */
  readonly repMin: number;
  readonly repMax: number;
  readonly samples: number;
}

export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i]!;
}

/** `reps` are the per-operation times (µs) of each repetition. */
export function summarize(reps: readonly (readonly number[])[]): Summary {
  const all = reps.flat().sort((a, b) => a - b);
  const repMedians = reps.map((r) => quantile([...r].sort((a, b) => a - b), 0.5));
  return {
    median: quantile(all, 0.5),
    p99: quantile(all, 0.99),
    repMin: Math.min(...repMedians),
    repMax: Math.max(...repMedians),
    samples: all.length,
  };
}

export function machine(): string {
  const c = cpus();
  return `${c[0]?.model ?? 'unknown CPU'}, ${c.length} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node.js ${process.version}, ${process.platform}/${process.arch}`;
}

export function fmt(us: number): string {
  if (!Number.isFinite(us)) return '-';
  return us < 10 ? us.toFixed(2) : us < 100 ? us.toFixed(1) : us.toFixed(0);
}
