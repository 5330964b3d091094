// The floor under fos's one-way shm rows: a bare single-producer
// single-consumer ring of length-prefixed records in a SharedArrayBuffer,
// both sides spinning, with nothing of fos around it (no envelope, no
// verdicts, no mailbox). Its reader copies each record into a Uint8Array of
// its own, as any receiver must that gives every message its own bytes, so
// that the row tells what a JavaScript receiver on this machine can reach.
//
// The layout, in 4-byte words of the control area (each written by one side):
//   HEAD   bytes the reader has consumed, mod 2^32 (reader)
//   TAIL   bytes the writer has published, mod 2^32 (writer)
//   COUNT  records the reader has copied out, mod 2^32 (reader)
//   STOP   1 asks the reader to return (writer)
// HEAD, TAIL and COUNT on cache lines of their own (128 bytes apart).
// Then the data area, CAPACITY bytes (a power of two, so that the counters'
// wrap at 2^32 keeps `tail - head` exact). A record starts 4-aligned: its
// length as an Int32, its bytes, padding to 4. A record that would not fit
// before the end of the area is preceded by a WRAP word there, which sends
// the reader to the area's start. Invariant: 0 <= tail - head <= CAPACITY,
// and the writer never writes over [head, tail).

const HEAD = 0;
const TAIL = 32;
const COUNT = 64;
const STOP = 96;
const CONTROL_BYTES = 512;
const WRAP = -1;
export const RAW_RING_CAPACITY = 1 << 23;

export function rawRingBytes(): number {
  return CONTROL_BYTES + RAW_RING_CAPACITY;
}

const padded = (n: number): number => (n + 3) & ~3;

interface Views {
  readonly ctl: Int32Array;
  readonly words: Int32Array;
  readonly bytes: Uint8Array;
}

function views(sab: SharedArrayBuffer): Views {
  return { ctl: new Int32Array(sab, 0, CONTROL_BYTES / 4), words: new Int32Array(sab, CONTROL_BYTES, RAW_RING_CAPACITY / 4), bytes: new Uint8Array(sab, CONTROL_BYTES, RAW_RING_CAPACITY) };
}

export class RawRingWriter {
  private readonly v: Views;
  private tail = 0;

  constructor(sab: SharedArrayBuffer) {
    this.v = views(sab);
  }

  /** Records the reader has copied out so far, mod 2^32. */
  get counted(): number {
    return Atomics.load(this.v.ctl, COUNT) >>> 0;
  }

  /** Writes `data` if there is room (not published until `publish`); false if the ring is full. */
  write(data: Uint8Array): boolean {
    const { ctl, words, bytes } = this.v;
    const need = 4 + padded(data.length);
    if (need > RAW_RING_CAPACITY / 2) throw new RangeError(`the raw ring carries records of at most ${RAW_RING_CAPACITY / 2 - 4} bytes`);
    let at = this.tail & (RAW_RING_CAPACITY - 1);
    const skip = at + need > RAW_RING_CAPACITY ? RAW_RING_CAPACITY - at : 0;
    if (((this.tail - Atomics.load(ctl, HEAD)) | 0) + skip + need > RAW_RING_CAPACITY) return false;
    if (skip > 0) {
      words[at >> 2] = WRAP;
      this.tail = (this.tail + skip) | 0;
      at = 0;
    }
    words[at >> 2] = data.length;
    if (data.length <= 32) for (let i = 0; i < data.length; i++) bytes[at + 4 + i] = data[i]!;
    else bytes.set(data, at + 4);
    this.tail = (this.tail + need) | 0;
    return true;
  }

  /** Makes what was written visible to the reader. */
  publish(): void {
    Atomics.store(this.v.ctl, TAIL, this.tail);
  }

  stop(): void {
    Atomics.store(this.v.ctl, STOP, 1);
  }
}

/** The last copies the reader made: they escape its loop, as a receiver's messages do. */
const KEPT = 64;
const kept = new Array<Uint8Array | undefined>(KEPT).fill(undefined);

/** The reader's loop: spins until STOP, copying out every record it finds. */
export function drainRawRing(sab: SharedArrayBuffer): void {
  const { ctl, words, bytes } = views(sab);
  let head = 0;
  let count = 0;
  while (Atomics.load(ctl, STOP) === 0) {
    const tail = Atomics.load(ctl, TAIL);
    if (tail === head) continue;
    while (head !== tail) {
      const at = head & (RAW_RING_CAPACITY - 1);
      const n = words[at >> 2]!;
      if (n === WRAP) {
        head = (head + RAW_RING_CAPACITY - at) | 0;
        continue;
      }
      const b = new Uint8Array(n);
      if (n <= 32) for (let i = 0; i < n; i++) b[i] = bytes[at + 4 + i]!;
      else b.set(bytes.subarray(at + 4, at + 4 + n));
      kept[count & (KEPT - 1)] = b; // escapes, so that the copy is not optimized away
      count++;
      head = (head + 4 + padded(n)) | 0;
    }
    Atomics.store(ctl, HEAD, head);
    Atomics.store(ctl, COUNT, count);
  }
}
