/**
 * Picking one member of a fleet.
 *
 * Round robin by default. With a key, rendezvous (highest random weight)
 * hashing — Thaler & Ravishankar, "Using name-based mappings to increase hit
 * rates", IEEE/ACM ToN 1998: each member scores hash(key, member) and the
 * highest score wins. Equal keys reach the same member while the fleet is
 * unchanged, and when a member leaves only the keys it held move.
 */
import type { Ref } from '../runtime/ref.js';
import { formatAddress } from '../runtime/ref.js';

/** A key a fleet send may be routed by. */
export type RoutingKey = string | number | bigint;

/** FNV-1a, 32 bits, over the UTF-16 code units of `s`, continuing from `h`. */
function fnv1a(s: string, h = 0x811c9dc5): number {
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** A final avalanche (murmur3's fmix32) so that near keys spread over members. */
function mix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

export function pickByKey(members: readonly Ref[], key: RoutingKey): Ref | undefined {
  const k = fnv1a(`${typeof key}:${String(key)}`);
  let best: Ref | undefined;
  let bestScore = -1;
  let bestId = '';
  for (const m of members) {
    const id = formatAddress(m.address);
    const score = mix(fnv1a(id, k));
    // Ties (rare) broken by address so every isolate agrees.
    if (score > bestScore || (score === bestScore && id < bestId)) {
      best = m;
      bestScore = score;
      bestId = id;
    }
  }
  return best;
}

/**
 * Round robin over a fleet, one cursor per (isolate, name). A cursor starts
 * at a random member unless told where: every isolate that makes one call to
 * a fleet (a `fos call`, a worker's first request) would otherwise send it
 * to the same first member, and a fleet of many short-lived callers would
 * load that member alone.
 */
export class RoundRobin {
  constructor(private next = Math.floor(Math.random() * 0x7fff_ffff)) {}
  pick(members: readonly Ref[]): Ref | undefined {
    if (members.length === 0) return undefined;
    const m = members[this.next % members.length];
    this.next = (this.next + 1) % members.length;
    return m;
  }
}
