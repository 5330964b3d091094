// E1: round-trip latency by transport and payload size, beside the raw
// mechanisms each transport is built on.
import { rawMessagePort, rawSharedMemory } from '../subjects/baselines.js';
import { callSyncPolling, kernelCall, localCall, shmParkedCall, shmPollingCall } from '../subjects/fos-round-trips.js';
import type { RoundTripSubject } from '../subjects/subject.js';
import { latencySeries, seriesPerSubject, type Experiment, type LatencySeries } from './experiment.js';

/**
 * One entry per transport, each with its own set-up and tear-down. The tcp
 * transport (a second node process on loopback) and its baseline (a raw
 * node:net ping-pong) join here as two more entries once src/transport/tcp
 * lands; the report draws whatever series this list measured.
 */
export const E1_SUBJECTS: readonly RoundTripSubject[] = [localCall, kernelCall, shmParkedCall, shmPollingCall, callSyncPolling, rawMessagePort, rawSharedMemory];

export interface E1Result {
  readonly sizes: readonly number[];
  readonly series: readonly LatencySeries[];
}

export const e1: Experiment<E1Result> = seriesPerSubject('E1 latency', E1_SUBJECTS, latencySeries);
