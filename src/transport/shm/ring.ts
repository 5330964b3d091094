/**
 * A single-producer single-consumer ring of variable-size records in a
 * SharedArrayBuffer: the channel of user messaging.
 *
 * Algorithm: Lamport's wait-free SPSC queue (L. Lamport, "Specifying
 * concurrent program modules", TOPLAS 1983) over a byte buffer, as in the
 * Linux kernel's kfifo and io_uring's rings: free-running 32-bit head and
 * tail counters, each written by one side only, with head and tail on
 * separate cache lines so the two cores do not false-share. JavaScript
 * `Atomics` are sequentially consistent, so the payload written before the
 * `Atomics.store` of the tail is visible to a consumer that has loaded that
 * tail (and likewise for the head and the space it frees).
 *
 * Layout (bytes):
 *   [0, 4)        head: bytes consumed, written only by the consumer
 *   [128, 132)    tail: bytes produced, written only by the producer
 *   [256, 256+C)  data: C bytes, C a power of two, C >= 64
 *
 * Invariants:
 * - 0 <= (tail - head) mod 2^32 <= C: the producer never overwrites what the
 *   consumer has not released;
 * - a record starts at a 4-aligned offset and is a 4-byte header then its
 *   payload, padded to a multiple of 4 bytes; a record never wraps: when it
 *   does not fit before the end of the data area, the producer writes a PAD
 *   header in the remaining space (always >= 4 bytes, since everything is
 *   4-aligned) and the record starts at offset 0;
 * - header = payload length (bits 0..27) | fragment kind (bits 28..29) |
 *   PAD flag (bit 30); bit 31 is always clear. A header that breaks these
 *   rules, or a length that runs past the data area, is corruption: the
 *   consumer throws RingCorruption rather than read garbage.
 *
 * Records larger than `maxRecord` (a quarter of the ring, so that a record
 * always fits once the ring drains) are carried as FIRST, MIDDLE..., LAST
 * fragments; the consumer reassembles them. Fragments of one message are
 * consecutive, since there is one producer.
 */

export const HEAD = 0;
export const TAIL = 128 / 4;
const DATA_OFFSET = 256;

const LEN_MASK = 0x0fff_ffff;
const FRAG_SHIFT = 28;
const FRAG_MASK = 0x3;
const PAD = 1 << 30;

export const enum Frag {
  Whole = 0,
  First = 1,
  Middle = 2,
  Last = 3,
}

export class RingCorruption extends Error {
  override readonly name = 'RingCorruption';
}

/** Bytes a SharedArrayBuffer needs for a ring of `capacity` data bytes. */
export function ringBytes(capacity: number): number {
  return DATA_OFFSET + capacity;
}

function align4(n: number): number {
  return (n + 3) & ~3;
}

/** The common view of both ends. */
abstract class RingEnd {
  protected readonly ctl: Int32Array;
  protected readonly data: Uint8Array;
  protected readonly words: Int32Array;
  readonly capacity: number;
  protected readonly mask: number;

  constructor(readonly sab: SharedArrayBuffer, byteOffset = 0, capacity = sab.byteLength - byteOffset - DATA_OFFSET) {
    if (capacity < 64 || (capacity & (capacity - 1)) !== 0) throw new RangeError(`ring capacity must be a power of two >= 64, got ${capacity}`);
    this.ctl = new Int32Array(sab, byteOffset, DATA_OFFSET / 4);
    this.data = new Uint8Array(sab, byteOffset + DATA_OFFSET, capacity);
    this.words = new Int32Array(sab, byteOffset + DATA_OFFSET, capacity / 4);
    this.capacity = capacity;
    this.mask = capacity - 1;
  }

  /** Largest payload carried as one record; larger ones are fragmented. */
  get maxRecord(): number {
    return this.capacity / 4 - 4;
  }
}

export class RingWriter extends RingEnd {
  /** The producer's own copy of tail (only it writes tail). */
  private tail: number;
  /** The last head read: a lower bound of the real head, refreshed when space seems short. */
  private headSeen: number;
  /** The reserved, uncommitted record: padding skipped before it, and its size. */
  private pendingPad = 0;
  private pendingLen = 0;

  constructor(sab: SharedArrayBuffer, byteOffset = 0, capacity?: number) {
    super(sab, byteOffset, capacity);
    this.tail = Atomics.load(this.ctl, TAIL);
    this.headSeen = Atomics.load(this.ctl, HEAD);
  }

  /** Bytes the ring would take for a record of `len` payload bytes written now, padding included. */
  private cost(len: number): number {
    const need = align4(4 + len);
    const pos = this.tail & this.mask;
    const toEnd = this.capacity - pos;
    return need <= toEnd ? need : toEnd + need;
  }

  /** True if a record of `len` payload bytes fits now. */
  fits(len: number): boolean {
    const cost = this.cost(len);
    if (this.capacity - ((this.tail - this.headSeen) >>> 0) >= cost) return true;
    this.headSeen = Atomics.load(this.ctl, HEAD);
    return this.capacity - ((this.tail - this.headSeen) >>> 0) >= cost;
  }

  /**
   * Reserves a record of `len` payload bytes and returns the offset of its
   * payload in `data`, or -1 if it does not fit. The record is invisible to
   * the consumer until `commit()`.
   */
  reserve(len: number, frag: Frag = Frag.Whole): number {
    if (len > this.maxRecord) throw new RangeError(`record of ${len} bytes exceeds ${this.maxRecord}`);
    if (!this.fits(len)) return -1;
    let pos = this.tail & this.mask;
    const toEnd = this.capacity - pos;
    const need = align4(4 + len);
    if (need > toEnd) {
      this.words[pos >> 2] = PAD;
      this.pendingPad = toEnd;
      pos = 0;
    } else {
      this.pendingPad = 0;
    }
    this.words[pos >> 2] = len | (frag << FRAG_SHIFT);
    this.pendingLen = need;
    return pos + 4;
  }

  /** Publishes the reserved record. */
  commit(): void {
    this.tail = (this.tail + this.pendingPad + this.pendingLen) >>> 0;
    this.pendingPad = 0;
    this.pendingLen = 0;
    Atomics.store(this.ctl, TAIL, this.tail | 0);
  }

  /** The data area, for writing a reserved payload in place. */
  get bytes(): Uint8Array {
    return this.data;
  }

  /** Writes one whole record; false if it does not fit. */
  tryWrite(payload: Uint8Array, frag: Frag = Frag.Whole): boolean {
    const at = this.reserve(payload.length, frag);
    if (at < 0) return false;
    this.data.set(payload, at);
    this.commit();
    return true;
  }

  /** Bytes written and not yet consumed. */
  get used(): number {
    return (this.tail - Atomics.load(this.ctl, HEAD)) >>> 0;
  }
}

/**
 * What the consumer is handed per record: the payload is `data` from
 * `start` to `end`, valid only during the callback (a range, not a view:
 * a view per record cost about 100 ns).
 */
export type RecordHandler = (data: Uint8Array, start: number, end: number, frag: Frag) => void;

export class RingReader extends RingEnd {
  /** The consumer's own copy of head (only it writes head). */
  private head: number;

  constructor(sab: SharedArrayBuffer, byteOffset = 0, capacity?: number) {
    super(sab, byteOffset, capacity);
    this.head = Atomics.load(this.ctl, HEAD);
  }

  /** True if at least one record is ready. */
  ready(): boolean {
    return Atomics.load(this.ctl, TAIL) !== (this.head | 0);
  }

  /**
   * Hands every ready record (up to `max`) to `handle`, in order, then
   * releases their space. Returns how many records it handled. Throws
   * RingCorruption on a malformed header; the ring is then unusable.
   */
  drain(handle: RecordHandler, max = Infinity): number {
    const tail = Atomics.load(this.ctl, TAIL) >>> 0;
    let head = this.head;
    let n = 0;
    while (head !== tail && n < max) {
      const pos = head & this.mask;
      const hdr = this.words[pos >> 2]!;
      if (hdr & PAD) {
        if (hdr !== PAD) throw new RingCorruption(`bad pad header ${hdr.toString(16)} at ${pos}`);
        head = (head + this.capacity - pos) >>> 0;
        continue;
      }
      if (hdr < 0) throw new RingCorruption(`bad header ${hdr.toString(16)} at ${pos}`);
      const len = hdr & LEN_MASK;
      const size = align4(4 + len);
      if (size > this.capacity - pos || size > ((tail - head) >>> 0)) {
        throw new RingCorruption(`record of ${len} bytes at ${pos} runs past the ring or the tail`);
      }
      handle(this.data, pos + 4, pos + 4 + len, ((hdr >>> FRAG_SHIFT) & FRAG_MASK) as Frag);
      head = (head + size) >>> 0;
      n++;
      // Released record by record, so a producer waiting for room can go
      // on while the rest of the batch is handled.
      this.head = head;
      Atomics.store(this.ctl, HEAD, head | 0);
    }
    if (this.head !== head) {
      this.head = head; // only PAD records were skipped
      Atomics.store(this.ctl, HEAD, head | 0);
    }
    return n;
  }
}
