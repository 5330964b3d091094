// E3: one-way throughput by transport and payload size, every message
// counted by its receiver.
import { fmtBytes } from '../format.js';
import { scaleSpread, spreadOf, type Spread } from '../stats.js';
import { kernelManySink, kernelSink, localSink, rawPortSink, shmParkedSink, shmPollingManySink, shmPollingSink } from '../subjects/sinks.js';
import { payloadOf, type Family, type ThroughputSubject } from '../subjects/subject.js';
import { rawNetSink, tcpManySink, tcpSink } from '../subjects/tcp.js';
import { seriesPerSubject, type Experiment, type RunContext } from './experiment.js';

/** One entry per transport, like E1's, and the batched sends (sendMany) of the cross-thread and tcp ones. */
export const E3_SUBJECTS: readonly ThroughputSubject[] = [localSink, kernelSink, shmParkedSink, shmPollingSink, tcpSink, kernelManySink, shmPollingManySink, tcpManySink, rawPortSink, rawNetSink];

export interface ThroughputSeries {
  readonly id: string;
  readonly label: string;
  readonly family: Family;
  readonly points: readonly { readonly size: number; readonly messagesPerSecond: Spread; readonly megabytesPerSecond: Spread }[];
}

export interface E3Result {
  readonly sizes: readonly number[];
  readonly series: readonly ThroughputSeries[];
}

/** Opens `subject`, measures bursts of each size (one warm-up, then one per repetition), closes it. */
export async function throughputSeries(subject: ThroughputSubject, sizes: readonly number[], ctx: RunContext, title: string): Promise<ThroughputSeries> {
  const { reps } = ctx.budget.latency;
  const open = await subject.open(ctx.env);
  const points: ThroughputSeries['points'][number][] = [];
  try {
    for (const size of sizes) {
      const payload = payloadOf(size);
      const cell = `${title}: ${subject.label}, ${fmtBytes(size)}`;
      await open.burst(payload, size, ctx.budget.burstMs);
      const rates: number[] = [];
      for (let r = 0; r < reps; r++) {
        rates.push(await open.burst(payload, size, ctx.budget.burstMs));
        ctx.progress.tick(cell, `rep ${r + 1}/${reps}`);
      }
      const messagesPerSecond = spreadOf(rates);
      points.push({ size, messagesPerSecond, megabytesPerSecond: scaleSpread(messagesPerSecond, size / 1e6) });
    }
  } finally {
    await open.close();
  }
  return { id: subject.id, label: subject.label, family: subject.family, points };
}

export const e3: Experiment<E3Result> = seriesPerSubject('E3 throughput', E3_SUBJECTS, throughputSeries);
