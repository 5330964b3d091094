// E4, the switch: the latency of the 1st to the 100th call of a new pair of
// isolates under 'auto', which starts on kernel and moves to shm after a
// handful of messages. Each pair is new (a freshly spawned service); which
// transport carried each call is read from the main thread's counters.
import { call, type FosNode } from '../../../src/index.js';
import { spreadOf, type Spread } from '../stats.js';
import { spawnBench } from '../subjects/bench-service.js';
import { payloadOf } from '../subjects/subject.js';
import type { Experiment } from './experiment.js';

const PAYLOAD = 8;

export type Carrier = 'kernel' | 'shm' | 'mixed';

export interface E4Result {
  readonly payload: number;
  readonly pairs: number;
  /** Message 1, 2, ...: its round trip (µs) across the pairs, and which transport carried it. */
  readonly messages: readonly { readonly index: number; readonly latency: Spread; readonly transport: Carrier }[];
  /** For each pair, how many calls went by kernel before it moved to shm. */
  readonly kernelCalls: readonly number[];
}

async function sentByMain(node: FosNode): Promise<{ kernel: number; shm: number }> {
  const main = (await node.stats()).isolates.find((i) => i.isolate === 0)?.stats?.transports;
  return { kernel: main?.kernel.messagesSent ?? NaN, shm: main?.shm.messagesSent ?? NaN };
}

export const e4: Experiment<E4Result> = {
  title: 'E4 the switch',
  ticks: (b) => b.switchPairs,
  async run(ctx) {
    const { switchPairs, switchMessages } = ctx.budget;
    const payload = payloadOf(PAYLOAD);
    const times: number[][] = Array.from({ length: switchMessages }, () => []);
    const kernelCalls: number[] = [];
    for (let p = 0; p < switchPairs; p++) {
      const server = await spawnBench(ctx.env, 'switch');
      try {
        const before = await sentByMain(ctx.env.node);
        for (let i = 0; i < switchMessages; i++) {
          const t0 = performance.now();
          await call(server.ref, 'echo', [payload]);
          times[i]!.push((performance.now() - t0) * 1000);
        }
        const after = await sentByMain(ctx.env.node);
        const kernel = after.kernel - before.kernel;
        // Every call is counted once, by one transport; anything else means another sender shared the counters.
        if (kernel + (after.shm - before.shm) !== switchMessages) throw new Error(`E4: ${switchMessages} calls were counted as ${kernel} by kernel and ${after.shm - before.shm} by shm`);
        kernelCalls.push(kernel);
      } finally {
        await server.stop();
      }
      ctx.progress.tick(this.title, `new pair ${p + 1}/${switchPairs}`);
    }
    const messages = times.map((t, i) => {
      const byKernel = kernelCalls.filter((k) => i < k).length;
      const transport: Carrier = byKernel === kernelCalls.length ? 'kernel' : byKernel === 0 ? 'shm' : 'mixed';
      return { index: i + 1, latency: spreadOf(t), transport };
    });
    return { payload: PAYLOAD, pairs: switchPairs, messages, kernelCalls };
  },
};
