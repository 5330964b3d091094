// One-way messages to a receiver that counts every one (E3).
import { Worker } from 'node:worker_threads';
import { send, sendMany, type Ref, type TransportChoice } from '../../../src/index.js';
import { countingSink } from '../services/counting-sink.js';
import { workerFile } from './baselines.js';
import { remoteAt, spawnBench } from './bench-service.js';
import { batchFor, windowFor, type ThroughputSubject } from './subject.js';

/** Batches in flight at once: enough to keep the receiver busy while verdicts come back. */
const BATCHES_IN_FLIGHT = 4;

/**
 * Sends from the main thread to `sink` for `ms`: a window of sends in
 * flight, or with `batched` a few sendMany batches (each message still
 * arrives, and is counted, on its own). `counted(total)` gives what the
 * receiver had once it reached `total`.
 */
export function burstTo(sink: Ref, transport: TransportChoice, counted: (total: number) => Promise<number>, batched = false): (data: unknown, bytes: number, ms: number) => Promise<number> {
  let total = 0;
  return async (data, bytes, ms) => {
    // Distinct items: one item repeated would be one shared value, which arrives shared (and costs more to carry).
    const batch = batched ? Array.from({ length: batchFor(bytes) }, () => structuredClone(data)) : undefined;
    const t0 = performance.now();
    const end = t0 + ms;
    let sent = 0;
    const lane = async (): Promise<void> => {
      while (performance.now() < end) {
        if (batch === undefined) {
          await send(sink, data, { transport });
          sent++;
        } else {
          await sendMany(sink, batch, { transport });
          sent += batch.length;
        }
      }
    };
    await Promise.all(Array.from({ length: batch === undefined ? windowFor(bytes) : BATCHES_IN_FLIGHT }, lane));
    total += sent;
    const got = await counted(total);
    if (got !== total) throw new Error(`the sink counted ${got} of ${total} messages`);
    return sent / ((performance.now() - t0) / 1000);
  };
}

/** To a mailbox of the main thread, from the main thread. */
export const localSink: ThroughputSubject = {
  id: 'local',
  label: 'fos send, same isolate',
  family: 'fos',
  async open() {
    const sink = await countingSink();
    return { burst: burstTo(sink.ref, 'auto', (n) => sink.counted(n)), close: async () => sink.close() };
  },
};

function workerSink(id: string, label: string, poll: boolean, transport: TransportChoice, batched = false): ThroughputSubject {
  return {
    id,
    label,
    family: 'fos',
    async open(env) {
      const server = await spawnBench(env, `sink-${id}`, { poll });
      const remote = remoteAt(server.ref);
      const sink = await remote.sink();
      return { burst: burstTo(sink, transport, (n) => remote.sunk(n), batched), close: () => server.stop() };
    },
  };
}

export const kernelSink = workerSink('kernel', 'fos send, kernel', false, 'kernel');
export const shmParkedSink = workerSink('shm-parked', 'fos send, shm, receiver parked', false, 'shm');
export const shmPollingSink = workerSink('shm-polling', 'fos send, shm, polling receiver', true, 'shm');
export const kernelManySink = workerSink('kernel-many', 'fos sendMany, kernel', false, 'kernel', true);
export const shmPollingManySink = workerSink('shm-polling-many', 'fos sendMany, shm, polling receiver', true, 'shm', true);

/** postMessage to a worker that counts: the kernel transport's mechanism, without fos. */
export const rawPortSink: ThroughputSubject = {
  id: 'raw-port',
  label: 'raw MessagePort one-way',
  family: 'baseline',
  async open() {
    const w = new Worker(workerFile('raw-port-sink'));
    const answers = new Map<number, (count: number) => void>();
    w.on('message', (m: { query: number; count: number }) => answers.get(m.query)?.(m.count));
    let queries = 0;
    const count = (): Promise<number> => {
      const q = ++queries;
      const p = new Promise<number>((resolve) => answers.set(q, resolve));
      w.postMessage({ query: q });
      return p.finally(() => answers.delete(q));
    };
    let total = 0;
    return {
      async burst(data, bytes, ms) {
        // postMessage never pushes back: the sender waits for the count of
        // the window before last, so at most two windows are ever queued.
        const window = windowFor(bytes);
        const t0 = performance.now();
        const end = t0 + ms;
        let sent = 0;
        let previous: Promise<number> = Promise.resolve(0);
        while (performance.now() < end) {
          for (let i = 0; i < window; i++) w.postMessage(data);
          sent += window;
          await previous;
          previous = count();
        }
        total += sent;
        const got = await count();
        if (got !== total) throw new Error(`the worker counted ${got} of ${total} messages`);
        return sent / ((performance.now() - t0) / 1000);
      },
      close: async () => void (await w.terminate()),
    };
  },
};
// tcp: one-way sends to a sink on a second node process, and raw node:net, are in tcp.ts.
