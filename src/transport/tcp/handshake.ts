/**
 * The handshake that opens a connection between two nodes: versioned, and
 * mutually authenticated by HMAC-SHA256 challenges over the cluster secret.
 * The secret itself never crosses the wire.
 *
 *   dialer   → Hello { v, node, nonce, sid: '', maxFrame, listen }
 *   acceptor → Hello { v, node, nonce, sid, maxFrame, listen, proof }
 *              proof = HMAC(secret, "fos/1 acceptor" | dialer nonce | acceptor nonce | dialer | acceptor)
 *   dialer   → Auth  { proof, sid, received }
 *              proof = HMAC(secret, "fos/1 dialer"   | the same fields)
 *   acceptor → Ready { received }
 *
 * Each side picks a fresh 32-byte nonce per connection, so a recorded
 * handshake proves nothing on a new connection (no replay), and the two
 * proofs carry different labels, so one side's proof cannot be reflected
 * back as the other's.
 *
 * Sessions: `sid` is the session the sender holds with the peer ('' for
 * none): the acceptor's in its Hello, the dialer's in its Auth (only then
 * does it know which node answered). The session resumes (unacknowledged
 * frames are resent after `received`) only when both sides name the same
 * one; otherwise both start a new session whose id both derive from the two
 * nonces.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { FosError } from '../../errors.js';

export const PROTOCOL_VERSION = 1;
/**
 * The smallest frame limit a node may have: room for a frame of verdicts
 * or of name bindings as the session cuts them (session.ts), with margin.
 */
export const MIN_MAX_FRAME = 64 * 1024;

export interface Hello {
  readonly v: number;
  readonly node: string;
  readonly nonce: Uint8Array;
  readonly sid: string;
  /** The largest frame the sender accepts. */
  readonly maxFrame: number;
  /** Where the sender listens for peers ('' when it does not), so that others can dial it. */
  readonly listen: string;
  /** The acceptor's proof. */
  readonly proof?: Uint8Array;
}

export interface Auth {
  readonly proof: Uint8Array;
  /** The session the dialer holds with the node that answered ('' for none). */
  readonly sid: string;
  /** The last seq the dialer received in the session (0 in a new one). */
  readonly received: number;
}

export interface Ready {
  readonly received: number;
}

export function newNonce(): Uint8Array {
  return new Uint8Array(randomBytes(32));
}

export function proof(secret: string, role: 'dialer' | 'acceptor', dialer: Hello, acceptor: Hello): Uint8Array {
  const h = createHmac('sha256', secret);
  h.update(`fos/${PROTOCOL_VERSION} ${role}\0`);
  h.update(dialer.nonce);
  h.update(acceptor.nonce);
  h.update(`\0${dialer.node}\0${acceptor.node}`);
  return new Uint8Array(h.digest());
}

export function proofMatches(expected: Uint8Array, given: unknown): boolean {
  return given instanceof Uint8Array && given.length === expected.length && timingSafeEqual(expected, given);
}

/** The id of a new session, derived by both sides from the nonces of the connection that starts it. */
export function newSessionId(dialer: Hello, acceptor: Hello): string {
  return createHash('sha256').update(dialer.nonce).update(acceptor.nonce).digest('base64url').slice(0, 22);
}

const NODE_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

/** Checks a peer's Hello; throws EINVAL (bad version, malformed) with the reason to log. */
export function checkHello(v: unknown, expectProof: boolean): Hello {
  if (typeof v !== 'object' || v === null) throw new FosError('EINVAL', 'malformed hello');
  const h = v as Partial<Hello>;
  if (h.v !== PROTOCOL_VERSION) throw new FosError('EINVAL', `protocol version ${printable(h.v)} is not ${PROTOCOL_VERSION}`);
  if (typeof h.node !== 'string' || !NODE_NAME.test(h.node)) throw new FosError('EINVAL', 'malformed hello: bad node name');
  if (!(h.nonce instanceof Uint8Array) || h.nonce.length !== 32) throw new FosError('EINVAL', 'malformed hello: bad nonce');
  if (typeof h.sid !== 'string' || h.sid.length > 64) throw new FosError('EINVAL', 'malformed hello: bad session id');
  if (typeof h.maxFrame !== 'number' || !Number.isInteger(h.maxFrame) || h.maxFrame < MIN_MAX_FRAME) throw new FosError('EINVAL', 'malformed hello: bad frame limit');
  if (typeof h.listen !== 'string' || h.listen.length > 300) throw new FosError('EINVAL', 'malformed hello: bad listen address');
  if (expectProof && !(h.proof instanceof Uint8Array)) throw new FosError('EINVAL', 'malformed hello: no proof');
  return h as Hello;
}

/** A peer's value in a reason: never String() of an object it built (its own toString could throw). */
function printable(v: unknown): string {
  if (typeof v === 'number' || typeof v === 'boolean' || v === undefined || v === null) return String(v);
  if (typeof v === 'string') return JSON.stringify(v.slice(0, 40));
  return `(${typeof v})`;
}

export function checkCount(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw new FosError('EINVAL', `malformed ${what}`);
  return v;
}
