// What a user would pick instead of fos for a call to another thread.
import { Worker } from 'node:worker_threads';
import { wrap } from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { Piscina } from 'piscina';
import { workerFile } from './baselines.js';
import type { RoundTripSubject } from './subject.js';

/** A piscina pool of one thread running an echo task. */
export const piscinaRun: RoundTripSubject = {
  id: 'piscina',
  label: 'piscina run()',
  family: 'peer',
  async open() {
    const pool = new Piscina({ filename: workerFile('piscina-echo'), minThreads: 1, maxThreads: 1 });
    return {
      probe: (payload) => ({ kind: 'async', run: () => pool.run(payload) }),
      close: () => pool.destroy(),
    };
  },
};

/** A comlink proxy to an echo exposed by a worker. */
export const comlinkCall: RoundTripSubject = {
  id: 'comlink',
  label: 'comlink call',
  family: 'peer',
  async open() {
    const w = new Worker(workerFile('comlink-echo'));
    const remote = wrap<{ echo(x: Uint8Array): Uint8Array }>(nodeEndpoint(w));
    return {
      probe: (payload) => ({ kind: 'async', run: () => remote.echo(payload) }),
      close: async () => void (await w.terminate()),
    };
  },
};
