// Summaries of timing samples and rates: every figure is the median of
// repeated runs, with the spread between runs kept beside it.

/** Latency of one measurement (µs per operation), over its repetitions. */
export interface Summary {
  /** Median of the per-repetition medians, µs per operation. */
  readonly median: number;
  /** 99th percentile of all samples pooled (a single repetition has too few for a stable tail). */
  readonly p99: number;
  /** Lowest and highest median of a single repetition: the spread between runs. */
  readonly repMin: number;
  readonly repMax: number;
  /** The median of each repetition, in the order they ran. */
  readonly repMedians: readonly number[];
  readonly samples: number;
  /** Operations averaged into one sample: 1, or a batch for operations too short to time one by one. */
  readonly opsPerSample: number;
}

/** A rate (per second) measured once per repetition. */
export interface Spread {
  readonly median: number;
  readonly min: number;
  readonly max: number;
  /** One value per repetition, in the order they ran. */
  readonly reps: readonly number[];
}

/** `a / b` of two figures of the same run, with the widest range their spreads allow. */
export interface Ratio {
  readonly ratio: number;
  readonly low: number;
  readonly high: number;
}

const ascending = (a: number, b: number): number => a - b;

/** The value below which a fraction `q` of `sorted` lies (nearest rank). */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i]!;
}

export function median(values: readonly number[]): number {
  const s = [...values].sort(ascending);
  if (s.length === 0) return NaN;
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** `reps` are the per-operation times (µs) of each repetition. */
export function summarize(reps: readonly (readonly number[])[], opsPerSample = 1): Summary {
  const all = reps.flat().sort(ascending);
  const repMedians = reps.filter((r) => r.length > 0).map((r) => median(r));
  return {
    median: median(repMedians),
    p99: quantile(all, 0.99),
    repMin: repMedians.length ? Math.min(...repMedians) : NaN,
    repMax: repMedians.length ? Math.max(...repMedians) : NaN,
    repMedians,
    samples: all.length,
    opsPerSample,
  };
}

/** One value per repetition (a rate, a count): its median and range. */
export function spreadOf(reps: readonly number[]): Spread {
  return {
    median: median(reps),
    min: reps.length ? Math.min(...reps) : NaN,
    max: reps.length ? Math.max(...reps) : NaN,
    reps: [...reps],
  };
}

/** A spread scaled by a constant (messages/s → MB/s). */
export function scaleSpread(s: Spread, k: number): Spread {
  return { median: s.median * k, min: s.min * k, max: s.max * k, reps: s.reps.map((v) => v * k) };
}

/** Anything with a median and a range: a latency summary or a rate. */
export type Figure = Summary | Spread;

function range(f: Figure): [number, number] {
  return 'repMin' in f ? [f.repMin, f.repMax] : [f.min, f.max];
}

/** `a / b` with the extreme ratios their ranges allow (both measured in the same run). */
export function ratioOf(a: Figure, b: Figure): Ratio {
  const [aLo, aHi] = range(a);
  const [bLo, bHi] = range(b);
  return { ratio: a.median / b.median, low: aLo / bHi, high: aHi / bLo };
}
