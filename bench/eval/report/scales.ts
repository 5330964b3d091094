// Scales from data to pixels, linear and logarithmic, with the ticks their
// axes show. Pure functions: unit-tested without a browser.

export interface Scale {
  (v: number): number;
  readonly domain: readonly [number, number];
  readonly ticks: readonly number[];
  readonly log: boolean;
}

function make(domain: [number, number], range: readonly [number, number], log: boolean, ticks: number[]): Scale {
  const t = log ? Math.log10 : (v: number) => v;
  const [d0, d1] = [t(domain[0]), t(domain[1])];
  const span = d1 - d0 || 1;
  const f = ((v: number) => range[0] + ((t(v) - d0) / span) * (range[1] - range[0])) as Scale;
  return Object.assign(f, { domain, ticks, log }) as Scale;
}

/**
 * A log scale over whole decades that hold `lo`..`hi` (both > 0). Ticks at
 * each power of ten; where the data span less than two decades, at 2 and 5
 * times them too, so that an axis never has a single label.
 */
export function logScale(lo: number, hi: number, range: readonly [number, number]): Scale {
  if (!(lo > 0) || !(hi > 0)) throw new RangeError(`a log scale needs positive bounds, got ${lo}..${hi}`);
  const e0 = Math.floor(Math.log10(Math.min(lo, hi)));
  let e1 = Math.ceil(Math.log10(Math.max(lo, hi)));
  if (e1 === e0) e1 = e0 + 1;
  const ticks: number[] = [];
  const fine = e1 - e0 < 2;
  for (let e = e0; e <= e1; e++) {
    const p = 10 ** e;
    ticks.push(p);
    if (fine && e < e1) ticks.push(2 * p, 5 * p);
  }
  return make([10 ** e0, 10 ** e1], range, true, ticks.map(tidy));
}

/** A linear scale from `lo` (0 by default for the bars' sake) to a round number above `hi`, with about `count` ticks. */
export function linearScale(lo: number, hi: number, range: readonly [number, number], count = 5): Scale {
  const top = hi > lo ? hi : lo + 1;
  const step = niceStep((top - lo) / count);
  const start = Math.floor(lo / step) * step;
  const end = Math.ceil(top / step) * step;
  const ticks: number[] = [];
  for (let v = start; v <= end + step / 2; v += step) ticks.push(tidy(v));
  return make([start, end], range, false, ticks);
}

/** 1, 2 or 5 times a power of ten: the step a person would pick. */
export function niceStep(raw: number): number {
  const p = 10 ** Math.floor(Math.log10(raw));
  const m = raw / p;
  return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
}

/** Rounds away floating-point dust (0.30000000000000004). */
function tidy(v: number): number {
  return Number(v.toPrecision(12));
}

/** A short label for a tick: 1, 20, 5k, 1M, 0.01. */
export function tickLabel(v: number): string {
  if (v >= 1e9) return `${tidy(v / 1e9)}G`;
  if (v >= 1e6) return `${tidy(v / 1e6)}M`;
  if (v >= 1e3) return `${tidy(v / 1e3)}k`;
  return String(tidy(v));
}
