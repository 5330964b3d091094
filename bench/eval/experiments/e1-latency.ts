// E1: round-trip latency by transport and payload size, beside the raw
// mechanisms each transport is built on.
import { rawMessagePort, rawSharedMemory } from '../subjects/baselines.js';
import { callSyncPolling, kernelCall, localCall, shmParkedCall, shmPollingCall } from '../subjects/fos-round-trips.js';
import type { RoundTripSubject } from '../subjects/subject.js';
import { rawNetPingPong, tcpCall } from '../subjects/tcp.js';
import { latencySeries, seriesPerSubject, type Experiment, type LatencySeries } from './experiment.js';

/** One entry per transport, each with its own set-up and tear-down; the report draws whatever series this list measured. */
export const E1_SUBJECTS: readonly RoundTripSubject[] = [localCall, kernelCall, shmParkedCall, shmPollingCall, callSyncPolling, tcpCall, rawMessagePort, rawSharedMemory, rawNetPingPong];

export interface E1Result {
  readonly sizes: readonly number[];
  readonly series: readonly LatencySeries[];
}

export const e1: Experiment<E1Result> = seriesPerSubject('E1 latency', E1_SUBJECTS, latencySeries);
