// A ratio of two round trips measured in turns: a repetition of one, then
// of the other, and again, so that both see the same moments of a noisy
// machine. Measured one after the other (as the tables' rows are), the two
// figures of a ratio can fall in different phases: on the development
// machine a raw MessagePort round trip moved between 22 and 48 µs within
// a minute, and the kernel target's ratio with it (1.8 to 2.4 in three
// runs of `npm run bench:micro`), where alternating blocks of the two
// kept it within 1.38-1.52 in the same hour.
//
// Only for pairs where neither subject slows the other down while it
// waits for its turn: a polling service spins on a core all along. That
// spares a system call on the main thread (callSync against fstatSync, as
// E2 times them), but would slow a thread that needs the second core (a
// piscina worker, a raw SharedArrayBuffer ping-pong).
import { median } from './stats.js';
import { payloadOf, type Env, type RoundTripSubject } from './subjects/subject.js';
import { timerFor, type Plan } from './timing.js';

export interface TurnRatio {
  readonly size: number;
  /** The median over the turns of (median of a's repetition) / (median of b's). */
  readonly ratio: number;
  readonly low: number;
  readonly high: number;
  readonly turns: number;
}

/** `a` against `b` at each size, in `turns` turns after a warm-up of each; `onTurn` is told after each. */
export async function ratiosInTurns(
  a: RoundTripSubject,
  b: RoundTripSubject,
  sizes: readonly number[],
  env: Env,
  plan: Plan,
  turns: number,
  onTurn: () => void = () => {},
): Promise<TurnRatio[]> {
  const openA = await a.open(env);
  try {
    const openB = await b.open(env);
    try {
      const out: TurnRatio[] = [];
      for (const [i, size] of sizes.entries()) {
        const warmup = i === 0 ? plan.firstWarmup : plan.warmup;
        const ta = await timerFor(openA.probe(payloadOf(size)), warmup);
        const tb = await timerFor(openB.probe(payloadOf(size)), warmup);
        const ratios: number[] = [];
        for (let t = 0; t < turns; t++) {
          const ma = median(await ta.rep(plan.rep));
          const mb = median(await tb.rep(plan.rep));
          ratios.push(ma / mb);
          onTurn();
        }
        out.push({ size, ratio: median(ratios), low: Math.min(...ratios), high: Math.max(...ratios), turns });
      }
      return out;
    } finally {
      await openB.close();
    }
  } finally {
    await openA.close();
  }
}
