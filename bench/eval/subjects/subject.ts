// What a measurement is made on. Each subject is one entry of a list, with
// its own set-up and tear-down, so that a new transport (tcp, say) joins an
// experiment as one more entry.
import { pack } from 'msgpackr';
import type { FosNode } from '../../../src/index.js';
import { fmtBytes } from '../format.js';
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

/** What a one-way burst sends: the value, the bytes it stands for, and how the tables name it. */
export interface OneWayPayload {
  readonly data: unknown;
  /** Its size: a byte array's length, or an object's msgpackr encoding. */
  readonly bytes: number;
  readonly what: string;
}

export function bytesPayload(size: number): OneWayPayload {
  return { data: payloadOf(size), bytes: size, what: fmtBytes(size) };
}

/**
 * A small record of the kind services pass around, sized by its msgpack
 * encoding. Sent alone it goes through fos's own codec of simple values
 * (src/simple-values.ts); a sendMany batch of 256 of them holds too many
 * objects for that and goes through msgpackr.
 */
export function smallObjectPayload(): OneWayPayload {
  const data = { id: 12345, kind: 'tick', value: 3.25, ok: true };
  const bytes = pack(data).length;
  return { data, bytes, what: `small object (${fmtBytes(bytes)} as msgpack)` };
}

/** Messages kept in flight by a sender: enough to fill the pipe, bounded in bytes so that 256 KiB payloads do not queue a GiB. */
/** Messages per sendMany batch: up to 256, and about 64 KiB at most. */
export function batchFor(bytes: number): number {
  return Math.max(1, Math.min(256, Math.floor(65_536 / Math.max(1, bytes))));
}

export function windowFor(bytes: number, most = 1024): number {
  return Math.max(8, Math.min(most, Math.floor((4 * 2 ** 20) / Math.max(1, bytes))));
}
