// Baseline, the floor: ping-pong on a SharedArrayBuffer, both sides
// spinning. Word 0 is the ping sequence, word 1 the pong; the payload is
// copied from the ping area to the pong area, as a message would be.
import { workerData } from 'node:worker_threads';

const { sab, size } = workerData as { sab: SharedArrayBuffer; size: number };
const ctl = new Int32Array(sab, 0, 32);
const ping = new Uint8Array(sab, 128, size);
const pong = new Uint8Array(sab, 128 + size, size);
let last = 0;
for (;;) {
  let seq: number;
  while ((seq = Atomics.load(ctl, 0)) === last);
  if (seq < 0) break;
  pong.set(ping);
  last = seq;
  Atomics.store(ctl, 1, seq);
}
