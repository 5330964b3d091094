// The fos service every measurement talks to, spawned on worker threads:
// an echo, a ping-pong pair of mailboxes, a counting sink, a handler that
// does real work (for fleets), and a client that loads a fleet with calls.
import { call, createMailbox, send, serve, type Ref, type ServiceContext } from '../../../src/index.js';
import { rate, timeAsync, type RepLimits } from '../timing.js';
import { countingSink, type CountingSink } from './counting-sink.js';

export interface BenchService {
  echo<T>(x: T): T;
  /** Spins for `micros` µs, then answers: a call with work to do, for fleets to share. */
  work(micros: number): number;
  /** A mailbox that sends every message back to its sender's reply ref. */
  ponger(): Promise<Ref>;
  /** One repetition of message round trips to `ponger` from here: the µs of each. */
  ping(ponger: Ref, payload: Uint8Array, limits: RepLimits, transport: 'kernel' | 'shm'): Promise<number[]>;
  /** A mailbox that counts what it receives. */
  sink(): Promise<Ref>;
  /** Waits until the sink has received `count` in all; returns how many it had. */
  sunk(count: number): Promise<number>;
  /** Calls `method(...args)` on `target` for `ms`, `depth` calls in flight: calls completed per second. */
  drive(target: string, method: string, args: unknown[], ms: number, depth: number): Promise<number>;
}

export default function start(ctx: ServiceContext<{ name: string }>): void {
  let sink: CountingSink | undefined;
  const bench: BenchService = {
    echo: (x) => x,
    work(micros) {
      const end = performance.now() + micros / 1000;
      let spins = 0;
      while (performance.now() < end) spins++;
      return spins;
    },
    async ponger() {
      const mb = await createMailbox({ capacity: 1024 });
      void (async () => {
        for await (const m of mb) if (m.from !== undefined) await send(m.from, m.data);
      })();
      return mb.ref;
    },
    async ping(ponger, payload, limits, transport) {
      const mb = await createMailbox({ capacity: 16 });
      const times = await timeAsync(async () => {
        await send(ponger, payload, { replyTo: mb.ref, transport });
        await mb.receive();
      }, limits);
      mb.close();
      return times;
    },
    async sink() {
      sink = await countingSink();
      return sink.ref;
    },
    async sunk(count) {
      return sink === undefined ? 0 : sink.counted(count);
    },
    drive: (target, method, args, ms, depth) => rate({ kind: 'async', run: () => call(target, method, args) }, depth, ms),
  };
  serve(ctx.data.name, bench);
}
