/**
 * Runs the shm path once, through a small channel of its own, when an
 * isolate starts: V8 compiles a function the first time it runs, and the
 * first message over a new pair's ring (under `auto`, the ninth) used to
 * pay for compiling the ring, the channel, the envelope and msgpackr in
 * both isolates, and for Node loading its performance module: 5-12 ms on
 * this machine, in the middle of the pair's traffic. Here it is paid once
 * per isolate (about 10 ms), when its first runtime starts, where spawning
 * costs tens of ms anyway. It touches no peer, doorbell or counter of the
 * isolate's; what stays behind is a few entries of the envelope's caches
 * of meta parts, which real traffic pushes out.
 */
import { RecordType, type MessageEnvelope } from '../../envelope.js';
import { FosError } from '../../errors.js';
import type { Capability, Ref } from '../../runtime/ref.js';
import { ShmIn, ShmOut } from './channel.js';
import { newDoorbell } from './doorbell.js';

const WARM_RING = 1 << 12;

let warmed = false;

/** Runs the warm-up, once per isolate (`again`: once more, for a test to watch it). */
export function warmUp(again = false): void {
  if (warmed && !again) return;
  warmed = true;
  // The pump and callSync read the clock: Node loads its performance module at the first read (ms).
  performance.now();
  const bell = newDoorbell();
  const out = ShmOut.create(0, bell, () => true, 0, WARM_RING);
  const inn = new ShmIn(0, out.sab, out.capacity, bell);
  const from: Ref = { address: { node: 'warm', isolate: 0, mailbox: 0 }, cap: 'warm' as Capability };
  // The payloads take each way through the envelope: raw bytes, simple values, msgpack.
  const payloads: unknown[] = [new Uint8Array(8), [1, 'a', new Uint8Array(2)], { a: new Map([[1, 2]]) }];
  const sends: Promise<void>[] = [];
  for (const data of payloads) {
    const call: MessageEnvelope = { type: RecordType.Message, to: 0, cap: 'c', wait: true, data, from, call: { id: 1, method: 'm' } };
    sends.push(out.send(call, { wait: true }), out.send({ type: RecordType.Message, to: 0, cap: 'c', wait: true, data: [data], batch: true }, { wait: true }));
    out.sendUntracked({ type: RecordType.Reply, callId: 1, cap: 'c', ok: true, data });
  }
  // Every way a verdict goes: admitted, refused at once, held and admitted later; replies need none.
  let n = 0;
  let held = 0;
  inn.drain((env, seq) => {
    if (env.type === RecordType.Reply) return 'untracked';
    if (++n === 1) return ((held = seq), 'held');
    return n % 2 === 0 ? new FosError('EAGAIN', 'warm') : 'admitted';
  });
  out.poll();
  inn.verdict(held, undefined);
  out.poll();
  out.fail(new FosError('ECLOSED', 'warm-up done'));
  for (const p of sends) p.catch(() => {}); // settled above; nobody waits for them
}
