// Mailboxes a test worker keeps for the test, and the ordering check of a
// sequence-numbered stream: shared by the fixtures and the tests that read
// a stream in their own thread.
import { createMailbox, type Mailbox, type MailboxOptions, type Ref } from '../../src/index.js';

export interface Verdict {
  received: number;
  perTag: Record<string, number>;
  outOfOrder: number;
  duplicates: number;
}

/** Receives `total` messages `{ tag, i }` and counts, per tag, those out of order or repeated. */
export async function collect(mb: Mailbox, total: number): Promise<Verdict> {
  const next: Record<string, number> = {};
  const v: Verdict = { received: 0, perTag: {}, outOfOrder: 0, duplicates: 0 };
  while (v.received < total) {
    const m = mb.tryReceive() ?? (await mb.receive({ signal: AbortSignal.timeout(60_000) }));
    const { tag, i } = m.data as { tag: string; i: number };
    const expected = next[tag] ?? 0;
    if (i < expected) v.duplicates++;
    else if (i > expected) v.outOfOrder++;
    next[tag] = Math.max(expected, i + 1);
    v.perTag[tag] = (v.perTag[tag] ?? 0) + 1;
    v.received++;
  }
  return v;
}

/** Mailboxes by number, with what a test asks of them from another isolate. */
export function boxKeeper() {
  const boxes = new Map<number, Mailbox>();
  let nextBox = 1;
  const boxOf = (id: number): Mailbox => {
    const mb = boxes.get(id);
    if (mb === undefined) throw new Error(`no box ${id}`);
    return mb;
  };
  return {
    boxOf,
    async box(opts: MailboxOptions): Promise<{ id: number; ref: Ref }> {
      const mb = await createMailbox(opts);
      const id = nextBox++;
      boxes.set(id, mb);
      return { id, ref: mb.ref };
    },
    async take(id: number, n: number, timeoutMs: number): Promise<unknown[]> {
      const mb = boxOf(id);
      const signal = AbortSignal.timeout(timeoutMs);
      const out: unknown[] = [];
      while (out.length < n) out.push((await mb.receive({ signal })).data);
      return out;
    },
    drain(id: number): unknown[] {
      const mb = boxOf(id);
      const out: unknown[] = [];
      for (let m = mb.tryReceive(); m !== undefined; m = mb.tryReceive()) out.push(m.data);
      return out;
    },
    depth(id: number): { depth: number; waiting: number } {
      const mb = boxOf(id);
      return { depth: mb.depth, waiting: mb.waiting };
    },
    closeBox(id: number): void {
      boxOf(id).close();
      boxes.delete(id);
    },
  };
}
