// E2, the thesis' central claim: a synchronous call to a service on another
// core against a system call, a blocking read and a plain function call.
// Repetitions take turns (callSync, fstat, read, call, callSync, ...), so
// that a noisy moment of the machine weighs on all of them alike.
import { ratioOf, summarize, type Ratio, type Summary } from '../stats.js';
import { callSyncPolling } from '../subjects/fos-round-trips.js';
import { payloadOf, type OpenRoundTrip, type RoundTripSubject } from '../subjects/subject.js';
import { fstat, plainCall, readZero } from '../subjects/system.js';
import { timerFor, type Timer } from '../timing.js';
import type { Experiment } from './experiment.js';

const SUBJECTS: readonly RoundTripSubject[] = [callSyncPolling, fstat, readZero, plainCall];
/** The callSync of E2 carries the smallest payload of E1. */
export const E2_PAYLOAD = 8;

export interface E2Row {
  readonly id: string;
  readonly label: string;
  readonly latency: Summary;
}

export interface E2Result {
  readonly payload: number;
  /** callSync first, then the yardsticks. */
  readonly rows: readonly E2Row[];
  /** callSync's time over each yardstick's. */
  readonly ratios: readonly { readonly against: string; readonly label: string; readonly ratio: Ratio }[];
}

export const e2: Experiment<E2Result> = {
  title: 'E2 callSync vs a system call',
  ticks: (b) => SUBJECTS.length * b.latency.reps,
  async run(ctx) {
    const plan = ctx.budget.latency;
    const opened: OpenRoundTrip[] = [];
    try {
      const timers: Timer[] = [];
      for (const s of SUBJECTS) {
        const open = await s.open(ctx.env);
        opened.push(open);
        timers.push(await timerFor(open.probe(payloadOf(E2_PAYLOAD)), plan.warmup));
      }
      const reps: number[][][] = SUBJECTS.map(() => []);
      for (let r = 0; r < plan.reps; r++) {
        for (let i = 0; i < SUBJECTS.length; i++) {
          reps[i]!.push(await timers[i]!.rep(plan.rep));
          ctx.progress.tick(this.title, `${opened[i]!.label ?? SUBJECTS[i]!.label}, rep ${r + 1}/${plan.reps}`);
        }
      }
      const rows = SUBJECTS.map((s, i) => ({ id: s.id, label: opened[i]!.label ?? s.label, latency: summarize(reps[i]!, timers[i]!.opsPerSample) }));
      const [sync, ...yardsticks] = rows;
      return {
        payload: E2_PAYLOAD,
        rows,
        ratios: yardsticks.map((y) => ({ against: y.id, label: y.label, ratio: ratioOf(sync!.latency, y.latency) })),
      };
    } finally {
      for (const o of opened) await o.close();
    }
  },
};
