// The two measurements everything else is built from: the time of one
// operation (a round trip, a system call), repeated; and the rate of
// operations kept in flight for a while.
import { median, summarize, type Summary } from './stats.js';

/** How long one repetition runs: `ms` and at least `minOps` operations, but never more than `maxOps`. */
export interface RepLimits {
  readonly ms: number;
  readonly minOps: number;
  readonly maxOps: number;
}

export interface Plan {
  readonly reps: number;
  readonly rep: RepLimits;
  /** Run once before the timed repetitions: V8 compiles the hot paths during the first thousands of operations. */
  readonly warmup: RepLimits;
  /**
   * The warm-up of a subject's first figure, longer: its isolates or
   * process are new, and a slow round trip (tcp: ~150 µs) makes few
   * operations in `warmup` (its median fell from ~500 to ~120 µs over
   * the first 5000 calls on this machine).
   */
  readonly firstWarmup: RepLimits;
}

/** One operation to time, in whichever shape it comes. */
export type Probe =
  | { readonly kind: 'async'; run(): Promise<unknown> }
  | { readonly kind: 'sync'; run(): unknown }
  /** An operation that times itself where it runs (in another isolate) and reports the µs of each. */
  | { readonly kind: 'timed'; rep(limits: RepLimits): Promise<number[]> };

/** A sub-µs operation costs about as much as reading the clock: such operations are timed in batches of about this many µs. */
const BATCH_MICROS = 10;

/** A probe made ready to time: warmed up, its batch size chosen. */
export interface Timer {
  /** One repetition: the µs per operation of each sample. */
  rep(limits: RepLimits): Promise<number[]>;
  readonly opsPerSample: number;
}

/** Warms `probe` up and, for a synchronous one, picks how many operations one sample averages. */
export async function timerFor(probe: Probe, warmup: RepLimits): Promise<Timer> {
  switch (probe.kind) {
    case 'timed':
      await probe.rep(warmup);
      return { rep: (limits) => probe.rep(limits), opsPerSample: 1 };
    case 'async':
      await timeAsync(probe.run, warmup);
      return { rep: (limits) => timeAsync(probe.run, limits), opsPerSample: 1 };
    case 'sync': {
      // Timed one by one, a very short operation looks as long as a clock
      // read: estimate again with the batch that first estimate gives.
      const batchFor = (us: number): number => Math.max(1, Math.round(BATCH_MICROS / Math.max(1e-6, us)));
      const first = batchFor(median(timeSync(probe.run, warmup, 1)));
      const batch = batchFor(median(timeSync(probe.run, warmup, first)));
      const rep = async (limits: RepLimits): Promise<number[]> => {
        const times = timeSync(probe.run, limits, batch);
        // A synchronous repetition holds the event loop: let it breathe (the progress bar, timers) between them.
        await new Promise((resolve) => setImmediate(resolve));
        return times;
      };
      return { rep, opsPerSample: batch };
    }
  }
}

/** `plan` for a subject's first figure: with the longer warm-up. */
export function firstFigure(plan: Plan): Plan {
  return { ...plan, warmup: plan.firstWarmup };
}

/** Warm-up, then `plan.reps` repetitions; `onRep` is told after each. */
export async function measure(probe: Probe, plan: Plan, onRep: (rep: number) => void = () => {}): Promise<Summary> {
  const timer = await timerFor(probe, plan.warmup);
  const reps: number[][] = [];
  for (let r = 0; r < plan.reps; r++) {
    reps.push(await timer.rep(plan.rep));
    onRep(r);
  }
  return summarize(reps, timer.opsPerSample);
}

/** One repetition of an async operation: the µs of each, one after the other. */
export async function timeAsync(op: () => Promise<unknown>, limits: RepLimits): Promise<number[]> {
  const times: number[] = [];
  const end = performance.now() + limits.ms;
  while (times.length < limits.maxOps && (times.length < limits.minOps || performance.now() < end)) {
    const t0 = performance.now();
    await op();
    times.push((performance.now() - t0) * 1000);
  }
  return times;
}

/** Each sample is the mean µs of `batch` operations. */
function timeSync(op: () => unknown, limits: RepLimits, batch: number): number[] {
  const times: number[] = [];
  const maxSamples = Math.max(1, Math.ceil(limits.maxOps / batch));
  const minSamples = Math.ceil(limits.minOps / batch);
  const end = performance.now() + limits.ms;
  let sink: unknown;
  while (times.length < maxSamples && (times.length < minSamples || performance.now() < end)) {
    const t0 = performance.now();
    for (let i = 0; i < batch; i++) sink = op();
    times.push(((performance.now() - t0) * 1000) / batch);
  }
  keep(sink);
  return times;
}

/** Stores a result where the compiler must assume it is read, so that it cannot drop the operation that made it. */
export let kept: unknown;
function keep(v: unknown): void {
  kept = v;
}

/**
 * Operations per second with `window` of them in flight at once (one at a
 * time for a synchronous one), for `ms`: what a caller that does not wait
 * for each answer before the next can get.
 */
export async function rate(probe: Probe, window: number, ms: number): Promise<number> {
  const t0 = performance.now();
  const end = t0 + ms;
  let done = 0;
  if (probe.kind === 'sync') {
    while (performance.now() < end) {
      for (let i = 0; i < 16; i++) keep(probe.run());
      done += 16;
    }
  } else if (probe.kind === 'async') {
    const lane = async (): Promise<void> => {
      while (performance.now() < end) {
        await probe.run();
        done++;
      }
    };
    await Promise.all(Array.from({ length: window }, lane));
  } else {
    throw new Error('a self-timed probe has no rate');
  }
  return done / ((performance.now() - t0) / 1000);
}
