// What a measurement is made on. Each subject is one entry of a list, with
// its own set-up and tear-down, so that a new transport (tcp, say) joins an
// experiment as one more entry.
import type { FosNode } from '../../../src/index.js';
import type { Probe } from '../timing.js';

/** What every set-up may use: the node booted for the run, and fresh names. */
export interface Env {
  readonly node: FosNode;
  /** A service name no other set-up of this run uses. */
  name(what: string): string;
}

/** fos itself; what fos should match (the raw mechanism under it); what users would pick instead; the system-call yardsticks. */
export type Family = 'fos' | 'baseline' | 'peer' | 'system';

interface Described {
  /** Stable key in results.json and in the charts' series. */
  readonly id: string;
  readonly label: string;
  readonly family: Family;
}

/** Something a round trip (or one synchronous operation) is timed on. */
export interface RoundTripSubject extends Described {
  open(env: Env): Promise<OpenRoundTrip>;
}

export interface OpenRoundTrip {
  /** What was measured, where the set-up had to differ from the subject's label. */
  readonly label?: string;
  /** The operation for a payload of this size. */
  probe(payload: Uint8Array): Probe;
  close(): Promise<void>;
}

/** Something one-way messages are sent through, to a receiver that counts them. */
export interface ThroughputSubject extends Described {
  open(env: Env): Promise<OpenSink>;
}

export interface OpenSink {
  /** Sends `data` one way for about `ms`, waits until the receiver has counted every message: messages per second. */
  burst(data: unknown, bytes: number, ms: number): Promise<number>;
  close(): Promise<void>;
}

/** A payload of `size` bytes, not all zeros. */
export function payloadOf(size: number): Uint8Array {
  return Uint8Array.from({ length: size }, (_, i) => i & 0xff);
}

/** Messages kept in flight by a sender: enough to fill the pipe, bounded in bytes so that 256 KiB payloads do not queue a GiB. */
export function windowFor(bytes: number, most = 1024): number {
  return Math.max(8, Math.min(most, Math.floor((4 * 2 ** 20) / Math.max(1, bytes))));
}
