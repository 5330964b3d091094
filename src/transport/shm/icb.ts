/**
 * The isolate control block: one SharedArrayBuffer per isolate, made by the
 * main thread when it starts the isolate and handed to every peer with the
 * kernel channel, so that any peer can wake it without its event loop
 * running.
 *
 * Layout (bytes):
 *   [0, 128)     doorbell (doorbell.ts): state, dead flag
 *   [128, ...)   the isolate's own sync slot (sync-slot.ts), written by the
 *                main thread only: the answers to the lookups a worker makes
 *                while it blocks in callSync. (A callSync's answer comes into
 *                the sync slot of the shm channel that carried the call.)
 */
import { SyncSlot, slotBytes } from './sync-slot.js';

const BELL_BYTES = 128;

export interface Icb {
  readonly sab: SharedArrayBuffer;
  /** The doorbell words. */
  readonly bell: Int32Array;
  /** Lookups made while this isolate blocks are answered here. */
  readonly slot: SyncSlot;
}

export function newIcb(): SharedArrayBuffer {
  return new SharedArrayBuffer(BELL_BYTES + slotBytes());
}

export function icbView(sab: SharedArrayBuffer): Icb {
  return { sab, bell: new Int32Array(sab, 0, BELL_BYTES / 4), slot: new SyncSlot(sab, BELL_BYTES) };
}
