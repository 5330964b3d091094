// What every experiment is given, and what it tells the progress bar up front.
import type { Budget } from '../options.js';
import type { Progress } from '../progress.js';
import { firstFigure, measure } from '../timing.js';
import { fmtBytes } from '../format.js';
import type { Summary } from '../stats.js';
import { payloadOf, type Env, type Family, type RoundTripSubject } from '../subjects/subject.js';

export interface RunContext {
  readonly env: Env;
  readonly budget: Budget;
  readonly progress: Progress;
}

export interface Experiment<R> {
  readonly title: string;
  /** How many times it will tick the progress bar under `budget`. */
  ticks(budget: Budget): number;
  run(ctx: RunContext): Promise<R>;
}

/** One line of a latency chart: a subject's round trip at each payload size. */
export interface LatencySeries {
  readonly id: string;
  readonly label: string;
  readonly family: Family;
  readonly points: readonly { readonly size: number; readonly latency: Summary }[];
}

/** Opens `subject`, times a round trip of each size, closes it. */
export async function latencySeries(subject: RoundTripSubject, sizes: readonly number[], ctx: RunContext, title: string): Promise<LatencySeries> {
  const open = await subject.open(ctx.env);
  const label = open.label ?? subject.label;
  const points: { size: number; latency: Summary }[] = [];
  try {
    for (const size of sizes) {
      const cell = `${title}: ${label}, ${fmtBytes(size)}`;
      const plan = points.length === 0 ? firstFigure(ctx.budget.latency) : ctx.budget.latency;
      const latency = await measure(open.probe(payloadOf(size)), plan, (r) => ctx.progress.tick(cell, `rep ${r + 1}/${ctx.budget.latency.reps}`));
      points.push({ size, latency });
    }
  } finally {
    await open.close();
  }
  return { id: subject.id, label, family: subject.family, points };
}

/** An experiment that measures one series per subject, over the budget's payload sizes, one subject set up at a time. */
export function seriesPerSubject<S, T>(
  title: string,
  subjects: readonly S[],
  measureSeries: (subject: S, sizes: readonly number[], ctx: RunContext, title: string) => Promise<T>,
): Experiment<{ readonly sizes: readonly number[]; readonly series: readonly T[] }> {
  return {
    title,
    ticks: (b) => subjects.length * b.sizes.length * b.latency.reps,
    async run(ctx) {
      const series: T[] = [];
      for (const subject of subjects) series.push(await measureSeries(subject, ctx.budget.sizes, ctx, title));
      return { sizes: ctx.budget.sizes, series };
    },
  };
}
