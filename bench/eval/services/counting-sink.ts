// A mailbox that counts every message it receives: the receiving end of the
// one-way throughput measurements, in a worker or on the main thread.
import { createMailbox, type Ref } from '../../../src/index.js';

export interface CountingSink {
  readonly ref: Ref;
  /** Resolves once `total` messages have arrived in all; gives how many had. */
  counted(total: number): Promise<number>;
  close(): void;
}

export async function countingSink(capacity = 4096): Promise<CountingSink> {
  const mb = await createMailbox({ capacity });
  let count = 0;
  let closed = false;
  void (async () => {
    for (;;) {
      // Drain what is queued without a promise each, then wait for more.
      while (mb.tryReceive() !== undefined) count++;
      try {
        await mb.receive();
        count++;
      } catch {
        return; // closed
      }
    }
  })();
  return {
    ref: mb.ref,
    async counted(total) {
      while (count < total && !closed) await new Promise((r) => setImmediate(r));
      return count;
    },
    close() {
      closed = true;
      mb.close();
    },
  };
}
