// The fos side of the micro benchmarks: an echo service, a ping-pong pair
// of mailboxes, and a sink that counts one-way messages.
import { createMailbox, send, serve, type Mailbox, type Ref, type ServiceContext } from '../src/index.js';

export interface BenchService {
  echo<T>(x: T): T;
  /** A mailbox that sends every message back to its sender's reply ref. */
  ponger(): Promise<Ref>;
  /** `n` message round trips to `ponger` from here, in `reps` repetitions: per-op µs of each. */
  ping(ponger: Ref, payload: Uint8Array, reps: number, n: number, transport: 'kernel' | 'shm'): Promise<number[][]>;
  /** A mailbox that counts what it receives. */
  sink(): Promise<Ref>;
  /** Waits until the sink has received `count` in all; returns how many it had. */
  sunk(count: number): Promise<number>;
}

export default function start(ctx: ServiceContext<{ name: string }>): void {
  let sunk = 0;
  let sinkBox: Mailbox | undefined;
  const bench: BenchService = {
    echo: (x) => x,
    async ponger() {
      const mb = await createMailbox({ capacity: 1024 });
      void (async () => {
        for await (const m of mb) if (m.from !== undefined) await send(m.from, m.data);
      })();
      return mb.ref;
    },
    async ping(ponger, payload, reps, n, transport) {
      const mb = await createMailbox({ capacity: 16 });
      const out: number[][] = [];
      for (let i = 0; i < 200; i++) {
        await send(ponger, payload, { replyTo: mb.ref, transport });
        await mb.receive();
      }
      for (let r = 0; r < reps; r++) {
        const times: number[] = [];
        for (let i = 0; i < n; i++) {
          const t0 = performance.now();
          await send(ponger, payload, { replyTo: mb.ref, transport });
          await mb.receive();
          times.push((performance.now() - t0) * 1000);
        }
        out.push(times);
      }
      mb.close();
      return out;
    },
    async sink() {
      const mb = await createMailbox({ capacity: 4096 });
      sinkBox = mb;
      void (async () => {
        for (;;) {
          for (let m = mb.tryReceive(); m !== undefined; m = mb.tryReceive()) sunk++;
          try {
            await mb.receive();
            sunk++;
          } catch {
            return;
          }
        }
      })();
      return mb.ref;
    },
    async sunk(count) {
      while (sunk < count && sinkBox !== undefined) await new Promise((r) => setImmediate(r));
      return sunk;
    },
  };
  serve(ctx.data.name, bench);
}
