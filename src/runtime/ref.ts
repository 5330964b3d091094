/**
 * Addresses, capabilities and refs: what a sender needs to reach a mailbox.
 *
 * All three are plain data so that a ref can itself travel in a message over
 * any transport (structured clone, msgpack).
 */
import { randomBytes } from 'node:crypto';
import { FosError } from '../errors.js';

declare const capBrand: unique symbol;
/** 128 random bits, base64url: unguessable proof that the holder may send. */
export type Capability = string & { readonly [capBrand]: true };

/**
 * Where a mailbox lives: node (a process), isolate (a thread of that node,
 * 0 = main) and mailbox number within the isolate. Isolate and mailbox
 * numbers are never reused within a node's life, so a stale address can
 * only miss (ENOENT), never reach a newer mailbox.
 */
export interface Address {
  readonly node: string;
  readonly isolate: number;
  readonly mailbox: number;
}

export interface Ref {
  readonly address: Address;
  readonly cap: Capability;
}

export function newCapability(): Capability {
  return randomBytes(16).toString('base64url') as Capability;
}

/**
 * Constant-time comparison of two capabilities: the time taken depends only
 * on the length of `expected`, never on where the first difference is, so
 * timing does not leak a capability byte by byte.
 */
export function capEquals(expected: string, given: unknown): boolean {
  if (typeof given !== 'string') return false;
  let diff = expected.length ^ given.length;
  for (let i = 0; i < expected.length; i++) diff |= expected.charCodeAt(i) ^ given.charCodeAt(i);
  return diff === 0;
}

function hasAddress(v: unknown): v is { address: Address; cap?: unknown } {
  if (typeof v !== 'object' || v === null) return false;
  const a = (v as { address?: unknown }).address as Partial<Address> | null | undefined;
  return typeof a === 'object' && a !== null && typeof a.node === 'string' && Number.isInteger(a.isolate) && Number.isInteger(a.mailbox);
}

export function isRef(v: unknown): v is Ref {
  return hasAddress(v) && typeof v.cap === 'string';
}

/** A ref as given: EINVAL when it names no mailbox, EACCES when its capability is missing. */
export function assertRef(v: unknown): Ref {
  if (!hasAddress(v)) throw new FosError('EINVAL', 'not a mailbox ref: expected { address: { node, isolate, mailbox }, cap }');
  if (typeof v.cap !== 'string') throw new FosError('EACCES', 'the ref carries no capability');
  return v as Ref;
}

export function formatAddress(a: Address): string {
  return `${a.node}/${a.isolate}/${a.mailbox}`;
}
