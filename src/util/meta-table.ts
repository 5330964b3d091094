/**
 * Meta tables: both ends of an ordered channel (an shm ring, a kernel
 * link) keep the same table of the meta tuples it carried, so that a
 * message repeating one (capability, reply ref, method: about 60 bytes,
 * four strings) names its entry by index instead.
 *
 * The protocol: entry k is the tuple of the k-th definition (mod
 * METAS) the channel carried. The sender defines an entry only once the
 * message defining it is sure to reach the receiver in order (encoded and
 * written, or posted); the receiver defines the same entry when it reads
 * that message, before any later one. So, invariant: for every k the
 * receiver has read a definition of, its entry k and the sender's are
 * the same tuple; and the sender refers only to entries it defined.
 */
import { FosError } from '../errors.js';
import type { Ref } from '../runtime/ref.js';

/** Entries of a channel's table, replaced round robin. */
export const METAS = 64;

/** What a meta entry stands for: `method` null for a data message, undefined for a reply (whose meta is its cap alone). */
export interface MetaKey {
  readonly cap: string;
  readonly from: Ref | undefined;
  readonly method: string | null | undefined;
}

/** Compared field by field even when identical: a ref is plain data that its holder may have changed since. */
function sameRef(a: Ref | undefined, b: Ref | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  const x = a.address;
  const y = b.address;
  return a.cap === b.cap && x.mailbox === y.mailbox && x.isolate === y.isolate && x.node === y.node;
}

/**
 * `from` as an entry keeps it: a frozen copy, so that its holder changing
 * the ref in place later cannot change the entry along with it (and the
 * entry would then match the changed ref). A ref already frozen (as a
 * received one is: the decoders freeze the refs they make) is kept as it is.
 */
export function keptRef(from: Ref | undefined): Ref | undefined {
  if (from === undefined || (Object.isFrozen(from) && Object.isFrozen(from.address))) return from;
  const { node, isolate, mailbox } = from.address;
  return Object.freeze({ address: Object.freeze({ node, isolate, mailbox }), cap: from.cap });
}

/** True when `m` stands for this tuple. */
export function holds(m: MetaKey, cap: string, from: Ref | undefined, method: string | null | undefined): boolean {
  return m.cap === cap && m.method === method && sameRef(m.from, from);
}

/** The sending end's table; `E` is what it keeps with each tuple (shm keeps the tuple's encoding). */
export class MetaOut<E extends MetaKey = MetaKey> {
  private readonly entries: E[] = [];
  private next = 0;
  /** The entry found last: a channel mostly repeats one. */
  private last = 0;

  /** The index of the entry holding this tuple, or -1. Looked up by fields: hashing a key string built per message costs more. */
  find(cap: string, from: Ref | undefined, method: string | null | undefined): number {
    const e = this.entries;
    const last = e[this.last];
    if (last !== undefined && holds(last, cap, from, method)) return this.last;
    for (let i = 0; i < e.length; i++) {
      if (holds(e[i]!, cap, from, method)) return (this.last = i);
    }
    return -1;
  }

  /** The next entry is `entry` (its `from` kept by keptRef): the message defining it is sure to reach the receiver, in order. */
  define(entry: E): void {
    this.entries[this.next] = entry;
    this.last = this.next;
    this.next = (this.next + 1) % METAS;
  }
}

/** The receiving end's table (see MetaOut); `T` is its decoded entry. */
export class MetaIn<T> {
  private readonly entries: T[] = [];
  private next = 0;

  define(m: T): void {
    this.entries[this.next] = m;
    this.next = (this.next + 1) % METAS;
  }

  /** Entry `index`; EINVAL (`what` is malformed) when it was never defined. */
  get(index: number, what: string): T {
    const m = this.entries[index];
    if (m === undefined) throw new FosError('EINVAL', `malformed ${what}: meta entry ${index} was never defined`);
    return m;
  }
}
