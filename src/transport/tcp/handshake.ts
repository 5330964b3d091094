/**
 * The handshake that opens a connection between two nodes: versioned, and
 * mutually authenticated by HMAC-SHA256 challenges over the cluster secret.
 * The secret itself never crosses the wire.
 *
 *   dialer   → Hello { v, node, inc, nonce, maxFrame }
 *   acceptor → Hello { v, node, inc, nonce, maxFrame, proof }
 *              proof = HMAC(secret, "fos/3 acceptor" | dialer nonce | acceptor nonce | dialer | acceptor | both incs)
 *   dialer   → Auth  { proof, sid, received, epoch, sole, listen }
 *              proof = HMAC(secret, "fos/3 dialer"   | the same fields)
 *   acceptor → Ready { resumed, sid, received, listen }
 *
 * Each side picks a fresh 32-byte nonce per connection, so a recorded
 * handshake proves nothing on a new connection (no replay), and the two
 * proofs carry different labels, so one side's proof cannot be reflected
 * back as the other's. What a node knows of its sessions and where it
 * listens goes only to a peer that has proved it knows the secret (in Auth
 * and Ready, each sent after the other side's proof checked out).
 *
 * Sessions: in its Auth the dialer names the session it holds with the
 * node that answered ('' for none) and the last frame it received in it.
 * The acceptor resumes that session only if it holds the same one, and
 * says so in Ready with its own count; unacknowledged frames are then
 * resent from each count on. Otherwise a new session starts, and Ready
 * names it.
 *
 * A new session's id is not drawn per connection: the acceptor derives it
 * from both nodes' names, incarnations (`inc`: drawn when a node starts)
 * and epochs (how many times each declared the other down for its
 * silence, dropping a session the other may still hold). Two nodes that
 * dial each other at once then start the same session over both
 * connections, whichever each side finishes first; a node that restarted,
 * or declared the other down, changes the id, so that no new session is
 * ever taken for an old one that a side has lost.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { FosError } from '../../errors.js';

/** 2: verdict frames in the simple-values encoding; 3: incarnations and epochs, a new session's id derived from them. */
export const PROTOCOL_VERSION = 3;
/**
 * The smallest frame limit a node may have: room for a frame of verdicts
 * or of name bindings as the session cuts them (session.ts), with margin.
 */
export const MIN_MAX_FRAME = 64 * 1024;

export interface Hello {
  readonly v: number;
  readonly node: string;
  /** The sender's incarnation: drawn when its node starts, new after every restart. */
  readonly inc: string;
  readonly nonce: Uint8Array;
  /** The largest frame the sender accepts. */
  readonly maxFrame: number;
  /** The acceptor's proof. */
  readonly proof?: Uint8Array;
}

export interface Auth {
  readonly proof: Uint8Array;
  /** The session the dialer holds with the node that answered ('' for none). */
  readonly sid: string;
  /** The last seq the dialer received in that session. */
  readonly received: number;
  /** How many times the dialer declared the acceptor down for its silence: part of a new session's id. */
  readonly epoch: number;
  /**
   * The dialer has no other connection to the acceptor, made or being made:
   * one the acceptor still uses is gone for the dialer, and this one
   * replaces it (two connections from one node are otherwise ranked).
   */
  readonly sole: boolean;
  /** Where the dialer listens for peers ('' when it does not), so that others can dial it. */
  readonly listen: string;
}

export interface Ready {
  /** Whether the acceptor holds the session the dialer named: it resumes. */
  readonly resumed: boolean;
  /** The session: the one named when it resumes, else the new one. */
  readonly sid: string;
  /** The last seq the acceptor received in it (0 when a new session starts). */
  readonly received: number;
  /** Where the acceptor listens for peers, as others should dial it. */
  readonly listen: string;
}

export function newNonce(): Uint8Array {
  return new Uint8Array(randomBytes(32));
}

export function proof(secret: string, role: 'dialer' | 'acceptor', dialer: Hello, acceptor: Hello): Uint8Array {
  const h = createHmac('sha256', secret);
  h.update(`fos/${PROTOCOL_VERSION} ${role}\0`);
  h.update(dialer.nonce);
  h.update(acceptor.nonce);
  h.update(`\0${dialer.node}\0${acceptor.node}\0${dialer.inc}\0${acceptor.inc}`);
  return new Uint8Array(h.digest());
}

/** A node's part in a new session's id. */
export interface SessionSide {
  readonly node: string;
  readonly inc: string;
  /** How many times this node declared the other down for its silence. */
  readonly epoch: number;
}

/**
 * The id of a new session between two nodes: the same whichever side
 * computes it, and over whichever connection, as long as neither node
 * restarted nor declared the other down in between.
 */
export function newSessionId(x: SessionSide, y: SessionSide): string {
  const [lo, hi] = x.node < y.node ? [x, y] : [y, x];
  const h = createHash('sha256').update(`fos/session\0${lo.node}\0${lo.inc}\0${lo.epoch}\0${hi.node}\0${hi.inc}\0${hi.epoch}`);
  return h.digest('base64url').slice(0, 22);
}

/** A node's incarnation: 128 random bits. */
export function newIncarnation(): string {
  return randomBytes(16).toString('base64url');
}

export function proofMatches(expected: Uint8Array, given: unknown): boolean {
  return given instanceof Uint8Array && given.length === expected.length && timingSafeEqual(expected, given);
}

const NODE_NAME = /^[A-Za-z0-9_.-]{1,64}$/;
const INCARNATION = /^[A-Za-z0-9_-]{1,64}$/;

/** Checks a peer's Hello; throws EINVAL (bad version, malformed) with the reason to log. */
export function checkHello(v: unknown, expectProof: boolean): Hello {
  if (typeof v !== 'object' || v === null) throw new FosError('EINVAL', 'malformed hello');
  const h = v as Partial<Hello>;
  if (h.v !== PROTOCOL_VERSION) throw new FosError('EINVAL', `protocol version ${printable(h.v)} is not ${PROTOCOL_VERSION}`);
  if (typeof h.node !== 'string' || !NODE_NAME.test(h.node)) throw new FosError('EINVAL', 'malformed hello: bad node name');
  if (typeof h.inc !== 'string' || !INCARNATION.test(h.inc)) throw new FosError('EINVAL', 'malformed hello: bad incarnation');
  if (!(h.nonce instanceof Uint8Array) || h.nonce.length !== 32) throw new FosError('EINVAL', 'malformed hello: bad nonce');
  if (typeof h.maxFrame !== 'number' || !Number.isInteger(h.maxFrame) || h.maxFrame < MIN_MAX_FRAME) throw new FosError('EINVAL', 'malformed hello: bad frame limit');
  if (expectProof && !(h.proof instanceof Uint8Array)) throw new FosError('EINVAL', 'malformed hello: no proof');
  return h as Hello;
}

/** A peer's value in a reason: never String() of an object it built (its own toString could throw). */
function printable(v: unknown): string {
  if (typeof v === 'number' || typeof v === 'boolean' || v === undefined || v === null) return String(v);
  if (typeof v === 'string') return JSON.stringify(v.slice(0, 40));
  return `(${typeof v})`;
}

/** Checks the dialer's Auth past its proof; throws EINVAL with the reason. */
export function checkAuth(v: Partial<Auth>): Auth {
  if (typeof v.sid !== 'string' || v.sid.length > 64) throw new FosError('EINVAL', 'malformed auth: bad session id');
  checkCount(v.received, 'auth');
  checkCount(v.epoch, 'auth');
  if (typeof v.sole !== 'boolean') throw new FosError('EINVAL', 'malformed auth: sole or not?');
  checkListen(v.listen, 'auth');
  return v as Auth;
}

/** Checks the acceptor's Ready; throws EINVAL with the reason. */
export function checkReady(v: unknown): Ready {
  if (typeof v !== 'object' || v === null) throw new FosError('EINVAL', 'malformed ready');
  const r = v as Partial<Ready>;
  if (typeof r.resumed !== 'boolean') throw new FosError('EINVAL', 'malformed ready: resumed or not?');
  if (typeof r.sid !== 'string' || r.sid.length === 0 || r.sid.length > 64) throw new FosError('EINVAL', 'malformed ready: bad session id');
  checkCount(r.received, 'ready');
  checkListen(r.listen, 'ready');
  return r as Ready;
}

function checkListen(v: unknown, what: string): void {
  if (typeof v !== 'string' || v.length > 300) throw new FosError('EINVAL', `malformed ${what}: bad listen address`);
}

export function checkCount(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw new FosError('EINVAL', `malformed ${what}`);
  return v;
}
