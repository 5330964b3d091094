// What fos's transports are built on, used raw: the floor each should come close to.
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { rawRingBytes, RawRingWriter } from './raw-ring.js';
import { batchFor, type RoundTripSubject, type ThroughputSubject } from './subject.js';

export const workerFile = (name: string): string => fileURLToPath(new URL(`../workers/${name}.js`, import.meta.url));

/** postMessage to a worker that posts it back: what the kernel transport does per message, without fos. */
export const rawMessagePort: RoundTripSubject = {
  id: 'raw-port',
  label: 'raw MessagePort ping-pong',
  family: 'baseline',
  async open() {
    const w = new Worker(workerFile('raw-port-echo'));
    let answer: (() => void) | undefined;
    w.on('message', () => answer?.());
    return {
      probe: (payload) => ({ kind: 'async', run: () => new Promise<void>((r) => ((answer = r), w.postMessage(payload))) }),
      close: async () => void (await w.terminate()),
    };
  },
};

/** Largest payload the shared-memory baseline carries (its buffer is made once). */
const RAW_SAB_MAX = 2 ** 20;

/** Both sides spinning on a SharedArrayBuffer, the payload copied each way: the floor under the shm transport. */
export const rawSharedMemory: RoundTripSubject = {
  id: 'raw-sab',
  label: 'raw SharedArrayBuffer spin ping-pong',
  family: 'baseline',
  async open() {
    // Word 0: ping sequence (-1 stops the worker), word 1: pong sequence, word 2: payload size.
    const sab = new SharedArrayBuffer(128 + 2 * RAW_SAB_MAX);
    const ctl = new Int32Array(sab, 0, 32);
    const w = new Worker(workerFile('raw-sab-echo'), { workerData: { sab, max: RAW_SAB_MAX } });
    await new Promise((resolve) => w.once('online', resolve));
    let seq = 0;
    return {
      probe(payload) {
        const size = payload.byteLength;
        if (size > RAW_SAB_MAX) throw new RangeError(`the raw SAB baseline carries at most ${RAW_SAB_MAX} bytes`);
        const ping = new Uint8Array(sab, 128, size);
        const pong = new Uint8Array(sab, 128 + RAW_SAB_MAX, size);
        const out = new Uint8Array(size);
        return {
          kind: 'sync',
          run() {
            ping.set(payload);
            Atomics.store(ctl, 2, size);
            Atomics.store(ctl, 0, ++seq);
            while (Atomics.load(ctl, 1) !== seq);
            out.set(pong);
            return out;
          },
        };
      },
      async close() {
        Atomics.store(ctl, 0, -1);
        await w.terminate();
      },
    };
  },
};

/**
 * One-way records through a bare shared-memory ring to a spinning worker
 * that copies each into a Uint8Array of its own and counts it: the floor
 * under fos's shm one-way rows (raw-ring.ts).
 */
export const rawSharedMemorySink: ThroughputSubject = {
  id: 'raw-sab',
  label: 'raw SharedArrayBuffer ring one-way, each copied out',
  family: 'baseline',
  async open() {
    const sab = new SharedArrayBuffer(rawRingBytes());
    const ring = new RawRingWriter(sab);
    const w = new Worker(workerFile('raw-sab-sink'), { workerData: { sab } });
    await new Promise((resolve) => w.once('online', resolve));
    let total = 0;
    return {
      async burst(data, bytes, ms) {
        if (!(data instanceof Uint8Array)) throw new TypeError('the raw ring carries byte arrays');
        // The writer publishes what a sendMany batch of this size would carry.
        const batch = batchFor(bytes);
        const t0 = performance.now();
        const end = t0 + ms;
        let sent = 0;
        while (performance.now() < end) {
          let n = 0;
          while (n < batch && ring.write(data)) n++;
          ring.publish();
          sent += n;
        }
        total += sent;
        // The reader spins on another thread: waiting for its count here blocks nothing it needs.
        const deadline = performance.now() + 10_000;
        // The reader's count is 32 bits: compared as such.
        while (ring.counted !== total >>> 0) if (performance.now() > deadline) throw new Error(`the raw ring's reader counted ${ring.counted} of ${total >>> 0} records (mod 2^32)`);
        return sent / ((performance.now() - t0) / 1000);
      },
      async close() {
        ring.stop();
        await w.terminate();
      },
    };
  },
};

// tcp's baseline, a raw node:net ping-pong between two processes, is in tcp.ts.
