/**
 * Transfer lists on the transports that copy bytes (shm, tcp): a list is
 * checked before anything is sent, and its buffers are taken from the
 * sender once the bytes are copied, as postMessage would.
 */
import type { TransferListItem } from 'node:worker_threads';

/** Why `list` cannot be transferred where bytes are copied (shm, tcp), or undefined: only distinct, live ArrayBuffers can. */
export function badTransferList(list: readonly TransferListItem[]): string | undefined {
  const seen = new Set<unknown>();
  for (const t of list) {
    if (!(t instanceof ArrayBuffer)) return 'only ArrayBuffers can be transferred over shm and tcp';
    if (t.byteLength === 0) return 'an empty or already transferred ArrayBuffer';
    if (seen.has(t)) return 'an ArrayBuffer listed twice';
    seen.add(t);
  }
  return undefined;
}

/** Takes transferred buffers away from the sender, their bytes having been copied. */
export function detach(list: readonly TransferListItem[]): void {
  try {
    structuredClone(undefined, { transfer: list as never[] });
  } catch {
    // Checked by badTransferList: nothing left to take.
  }
}
