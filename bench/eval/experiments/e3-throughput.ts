// E3: one-way throughput by transport and payload size, every message
// counted by its receiver.
import { scaleSpread, spreadOf, type Spread } from '../stats.js';
import { kernelManySink, kernelSink, localSink, rawPortSink, shmParkedSink, shmPollingManySink, shmPollingSink } from '../subjects/sinks.js';
import { rawSharedMemorySink } from '../subjects/baselines.js';
import { bytesPayload, type Family, type OneWayPayload, type ThroughputSubject } from '../subjects/subject.js';
import { rawNetSink, tcpManySink, tcpSink } from '../subjects/tcp.js';
import { seriesPerSubject, type Experiment, type RunContext } from './experiment.js';

/** One entry per transport, like E1's, and the batched sends (sendMany) of the cross-thread and tcp ones. */
export const E3_SUBJECTS: readonly ThroughputSubject[] = [localSink, kernelSink, shmParkedSink, shmPollingSink, tcpSink, kernelManySink, shmPollingManySink, tcpManySink, rawPortSink, rawSharedMemorySink, rawNetSink];

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

/** Byte arrays of each size through `subject`: see throughputOf. */
export function throughputSeries(subject: ThroughputSubject, sizes: readonly number[], ctx: RunContext, title: string): Promise<ThroughputSeries> {
  return throughputOf(subject, sizes.map(bytesPayload), ctx, title);
}

/** Opens `subject`, measures bursts of each payload (one warm-up, then one per repetition), closes it. A point's size is its payload's bytes. */
export async function throughputOf(subject: ThroughputSubject, payloads: readonly OneWayPayload[], ctx: RunContext, title: string): Promise<ThroughputSeries> {
  const { reps } = ctx.budget.latency;
  const open = await subject.open(ctx.env);
  const points: ThroughputSeries['points'][number][] = [];
  try {
    for (const { data, bytes, what } of payloads) {
      const cell = `${title}: ${subject.label}, ${what}`;
      await open.burst(data, bytes, ctx.budget.burstMs);
      const rates: number[] = [];
      for (let r = 0; r < reps; r++) {
        rates.push(await open.burst(data, bytes, ctx.budget.burstMs));
        ctx.progress.tick(cell, `rep ${r + 1}/${reps}`);
      }
      const messagesPerSecond = spreadOf(rates);
      points.push({ size: bytes, messagesPerSecond, megabytesPerSecond: scaleSpread(messagesPerSecond, bytes / 1e6) });
    }
  } finally {
    await open.close();
  }
  return { id: subject.id, label: subject.label, family: subject.family, points };
}

export const e3: Experiment<E3Result> = seriesPerSubject('E3 throughput', E3_SUBJECTS, throughputSeries);
