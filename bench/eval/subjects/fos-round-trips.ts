// Round trips through fos, one subject per transport and waiting strategy.
import { call, callSync, serve, type Ref, type TransportChoice } from '../../../src/index.js';
import type { Probe } from '../timing.js';
import { spawnBench, remoteAt } from './bench-service.js';
import type { RoundTripSubject } from './subject.js';

/** A call from the main thread to the echo of a service spawned with `poll`, made by `probe`. */
function callToWorker(id: string, label: string, poll: boolean, probe: (ref: Ref, payload: Uint8Array) => Probe): RoundTripSubject {
  return {
    id,
    label,
    family: 'fos',
    async open(env) {
      const server = await spawnBench(env, id, { poll });
      return { probe: (payload) => probe(server.ref, payload), close: () => server.stop() };
    },
  };
}

const callBy =
  (transport: TransportChoice) =>
  (ref: Ref, payload: Uint8Array): Probe => ({ kind: 'async', run: () => call(ref, 'echo', [payload], { transport }) });

/** Same isolate: a service of the main thread, called from the main thread (the message is copied, never posted). */
export const localCall: RoundTripSubject = {
  id: 'local',
  label: 'fos call, same isolate',
  family: 'fos',
  async open(env) {
    const service = serve(env.name('local'), { echo: <T>(x: T): T => x });
    const ref = await service.ready;
    return {
      probe: (payload) => ({ kind: 'async', run: () => call(ref, 'echo', [payload]) }),
      close: async () => service.close(),
    };
  },
};

export const kernelCall = callToWorker('kernel', 'fos call, kernel', false, callBy('kernel'));
export const shmParkedCall = callToWorker('shm-parked', 'fos call, shm, receiver parked', false, callBy('shm'));
export const shmPollingCall = callToWorker('shm-polling', 'fos call, shm, polling service', true, callBy('shm'));
/** What a user gets without asking: a default service, 'auto' (kernel for the first messages, then shm). */
export const autoCall = callToWorker('auto', 'fos call, auto, default service', false, callBy('auto'));

/** The "system call to another core": the main thread blocks until a polling service answers over shm. */
export const callSyncPolling = callToWorker('callsync', 'fos callSync, polling service', true, (ref, payload) => ({
  kind: 'sync',
  run: () => callSync(ref, 'echo', [payload]),
}));

/** Mailbox to mailbox between two polling workers: a send and a receive each way, no call machinery, timed in the sender. */
export function pingPong(transport: 'kernel' | 'shm'): RoundTripSubject {
  return {
    id: `ping-${transport}`,
    label: `fos send/receive, ${transport}, both polling`,
    family: 'fos',
    async open(env) {
      const pinger = await spawnBench(env, 'pinger', { poll: true });
      const ponger = await spawnBench(env, 'ponger', { poll: true });
      const pongRef = await remoteAt(ponger.ref).ponger();
      return {
        probe: (payload) => ({ kind: 'timed', rep: (limits) => remoteAt(pinger.ref).ping(pongRef, payload, limits, transport) }),
        close: async () => void (await Promise.all([pinger.stop(), ponger.stop()])),
      };
    },
  };
}
