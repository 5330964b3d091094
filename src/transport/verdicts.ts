/**
 * The receiving half of a verdict-carrying transport (kernel link, tcp
 * session): verdicts not yet sent back, as compact acknowledged ranges and
 * refusals, and their application on the sending half's Flow.
 *
 * Invariants:
 * - `ranges` is a flat list [from0, to0, from1, to1, ...] of inclusive seq
 *   ranges whose messages reached their mailbox; a range only ever covers
 *   seqs of messages (a transport whose seq space also numbers other frames
 *   says which seq came before a message, so that a range can span them);
 * - a verdict stays here until the frame that carries it has actually been
 *   sent (`take` then `clear`), so no verdict is lost to a frame that failed.
 */
import { FosError, fromWire, toWire, type RemoteErrorInfo, type WireError } from '../errors.js';
import { decodeSimple, encodeSimple } from '../simple-values.js';

export interface VerdictLists {
  /** Acknowledged inclusive ranges [from0, to0, ...]. */
  a?: number[];
  /** Refused seqs with the reason. */
  n?: [number, WireError][];
}

export class PendingVerdicts {
  private ranges: number[] = [];
  private refusals: [number, WireError][] = [];

  get empty(): boolean {
    return this.ranges.length === 0 && this.refusals.length === 0;
  }

  /** Message `seq` reached its mailbox; `previous` is the seq of the message before it (default seq − 1). */
  ack(seq: number, previous = seq - 1): void {
    const r = this.ranges;
    if (r.length > 0 && r[r.length - 1] === previous) r[r.length - 1] = seq;
    else r.push(seq, seq);
  }

  /** Message `seq` was refused. */
  nack(seq: number, err: FosError): void {
    this.refusals.push([seq, toWire(err)]);
  }

  /** The verdicts to carry on the next frame; call `clear` once it is sent. */
  take(into: VerdictLists): void {
    if (this.ranges.length > 0) into.a = this.ranges;
    if (this.refusals.length > 0) into.n = this.refusals;
  }

  /** The verdicts in `sent` went out: forget them. */
  clear(sent: VerdictLists): void {
    if (sent.a !== undefined) this.ranges = [];
    if (sent.n !== undefined) this.refusals = [];
  }

  reset(): void {
    this.ranges = [];
    this.refusals = [];
  }
}

/**
 * Verdict lists as bytes (a tcp Verdict frame's body), in the simple-values
 * encoding: [a or null, n or null], each refusal flattened to [seq, code,
 * message, remote name, remote message, remote code, remote stack] with
 * null for what is absent. msgpackr's records cost more to decode than all
 * the rest of a call's reply did. The bytes returned are the caller's own.
 */
export function packVerdicts(v: VerdictLists): Uint8Array {
  const n = v.n?.map(([seq, e]) => [seq, e.code, e.message, e.remote?.name ?? null, e.remote?.message ?? null, e.remote?.code ?? null, e.remote?.stack ?? null]);
  const bytes = encodeSimple([v.a ?? null, n ?? null], true); // arrays made here: none shared, no limit on their number
  if (bytes === undefined) throw new FosError('EINVAL', 'verdicts too large for one frame');
  return bytes.slice(); // out of the codec's scratch buffer, which the next encode reuses
}

/** The verdict lists in a Verdict frame's body; EINVAL if it is not one. What the lists name is checked by their user. */
export function unpackVerdicts(bytes: Uint8Array): VerdictLists {
  let v: unknown;
  try {
    v = decodeSimple(bytes);
  } catch (e) {
    throw new FosError('EINVAL', `malformed verdicts: ${(e as Error).message}`);
  }
  if (!Array.isArray(v) || v.length !== 2) throw new FosError('EINVAL', 'malformed verdicts: not [a, n]');
  const [a, n] = v as unknown[];
  const out: VerdictLists = {};
  if (Array.isArray(a)) out.a = a as number[]; // checked by their user (checkVerdicts)
  if (Array.isArray(n)) {
    out.n = [];
    for (const r of n as unknown[]) {
      if (!Array.isArray(r) || r.length !== 7) continue;
      const [seq, code, message, rname, rmessage, rcode, rstack] = r as unknown[];
      let remote: RemoteErrorInfo | undefined;
      if (typeof rname === 'string' && typeof rmessage === 'string') {
        remote = { name: rname, message: rmessage };
        if (typeof rcode === 'string') remote = { ...remote, code: rcode };
        if (typeof rstack === 'string') remote = { ...remote, stack: rstack };
      }
      out.n.push([seq as number, (remote === undefined ? { code, message } : { code, message, remote }) as WireError]);
    }
  }
  return out;
}

/** Applies verdicts received from the peer to the flow of what we sent it. */
export function applyVerdicts(flow: { settle(seq: number, err: FosError | undefined): void; settleRange(from: number, to: number): void }, v: VerdictLists): void {
  const a = v.a;
  if (a !== undefined) for (let i = 0; i + 1 < a.length; i += 2) flow.settleRange(a[i]!, a[i + 1]!);
  if (v.n !== undefined) for (const [s, e] of v.n) flow.settle(s, fromWire(e));
}
