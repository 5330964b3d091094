// What users would pick instead: a call through piscina and through comlink
// over worker_threads, beside fos call and callSync; the round trip of one
// call at a time, and calls per second with many in flight.
import { fmtBytes } from '../format.js';
import { spreadOf, type Spread, type Summary } from '../stats.js';
import { autoCall, callSyncPolling, shmPollingCall } from '../subjects/fos-round-trips.js';
import { comlinkCall, piscinaRun } from '../subjects/peers.js';
import { payloadOf, type Family, type RoundTripSubject } from '../subjects/subject.js';
import { firstFigure, measure, rate } from '../timing.js';
import type { Experiment } from './experiment.js';

const SUBJECTS: readonly RoundTripSubject[] = [piscinaRun, comlinkCall, autoCall, shmPollingCall, callSyncPolling];
/** Calls in flight for the throughput figure (callSync, which blocks, has one). */
export const PEER_WINDOW = 32;

export interface PeerRow {
  readonly id: string;
  readonly label: string;
  readonly family: Family;
  readonly size: number;
  readonly roundTrip: Summary;
  readonly callsPerSecond: Spread;
}

export interface PeersResult {
  readonly sizes: readonly number[];
  readonly window: number;
  readonly rows: readonly PeerRow[];
}

export const peers: Experiment<PeersResult> = {
  title: 'Peers',
  ticks: (b) => SUBJECTS.length * b.peerSizes.length * 2 * b.latency.reps,
  async run(ctx) {
    const { reps } = ctx.budget.latency;
    const rows: PeerRow[] = [];
    for (const subject of SUBJECTS) {
      const open = await subject.open(ctx.env);
      try {
        for (const [i, size] of ctx.budget.peerSizes.entries()) {
          const probe = open.probe(payloadOf(size));
          const cell = `${this.title}: ${subject.label}, ${fmtBytes(size)}`;
          const plan = i === 0 ? firstFigure(ctx.budget.latency) : ctx.budget.latency;
          const roundTrip = await measure(probe, plan, (r) => ctx.progress.tick(cell, `round trip, rep ${r + 1}/${reps}`));
          const rates: number[] = [];
          for (let r = 0; r < reps; r++) {
            rates.push(await rate(probe, PEER_WINDOW, ctx.budget.burstMs));
            ctx.progress.tick(cell, `throughput, rep ${r + 1}/${reps}`);
          }
          rows.push({ id: subject.id, label: subject.label, family: subject.family, size, roundTrip, callsPerSecond: spreadOf(rates) });
        }
      } finally {
        await open.close();
      }
    }
    return { sizes: ctx.budget.peerSizes, window: PEER_WINDOW, rows };
  },
};
