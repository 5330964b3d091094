/**
 * Transfer lists on the transports that copy bytes (shm, tcp): a list is
 * checked before anything is sent, and its buffers are taken from the
 * sender at once, as postMessage would.
 */
import type { TransferListItem } from 'node:worker_threads';
import { FosError } from '../errors.js';

/**
 * Why `list` cannot be transferred where bytes are copied (shm, tcp), or
 * undefined: only distinct ArrayBuffers can. An empty or already
 * transferred one transfers nothing, as postMessage takes it.
 */
export function badTransferList(list: readonly TransferListItem[]): string | undefined {
  const seen = new Set<unknown>();
  for (const t of list) {
    if (!(t instanceof ArrayBuffer)) return 'only ArrayBuffers can be transferred over shm and tcp';
    if (seen.has(t)) return 'an ArrayBuffer listed twice';
    seen.add(t);
  }
  return undefined;
}

/**
 * Takes the buffers of `list` away from the sender at once, as postMessage
 * would, and returns a copy of `data` that holds them instead (moved, not
 * copied). The copy is what goes on: a send that waits to be posted (its
 * mailbox's window full) is encoded later, when the sender's buffers are
 * long gone. EINVAL if `data` cannot be cloned.
 */
export function moveTransferred(data: unknown, list: readonly TransferListItem[]): unknown {
  try {
    return structuredClone(data, { transfer: list as never[] });
  } catch (e) {
    throw new FosError('EINVAL', `message cannot be sent: ${(e as Error).message}`);
  }
}

/**
 * For the transports that copy bytes (shm, tcp): checks `list`, then moves
 * its buffers into a copy of `data` (see moveTransferred) and returns the
 * copy. EINVAL for a bad list, before anything is taken from the sender.
 */
export function moveForCopy(data: unknown, list: readonly TransferListItem[]): unknown {
  const bad = badTransferList(list);
  if (bad !== undefined) throw new FosError('EINVAL', `bad transfer list: ${bad}`);
  return moveTransferred(data, list);
}

/**
 * Takes the objects of `list` (buffers, ports...) away from the sender at
 * once into a copy of `data` that waits to be posted, and gives the copy
 * with the list of its own transferred objects: one clone of [data, list]
 * keeps their identity, so the copy's list names what the copy holds.
 * EINVAL if `data` cannot be cloned or `list` transferred.
 */
export function moveWithList(data: unknown, list: readonly TransferListItem[]): [unknown, TransferListItem[]] {
  return moveTransferred([data, list], list) as [unknown, TransferListItem[]];
}
