// Baseline, the floor: ping-pong on a SharedArrayBuffer, both sides
// spinning. Word 0 is the ping sequence (-1: stop), word 1 the pong, word 2
// the payload size; the payload is copied from the ping area to the pong
// area, as a message would be.
import { workerData } from 'node:worker_threads';

const { sab, max } = workerData as { sab: SharedArrayBuffer; max: number };
const ctl = new Int32Array(sab, 0, 32);
const ping = new Uint8Array(sab, 128, max);
const pong = new Uint8Array(sab, 128 + max, max);
let last = 0;
for (;;) {
  let seq: number;
  while ((seq = Atomics.load(ctl, 0)) === last);
  if (seq < 0) break;
  const size = Atomics.load(ctl, 2);
  pong.set(ping.subarray(0, size));
  last = seq;
  Atomics.store(ctl, 1, seq);
}
