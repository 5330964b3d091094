/**
 * An isolate's doorbell: the word it parks on when it has nothing to do,
 * and that a peer rings after writing into one of its rings.
 *
 * Protocol (an eventcount, as futex-based queues use; cf. Drepper,
 * "Futexes Are Tricky", 2011): the owner stores PARKED, checks its rings
 * once more, and only then waits while the word is PARKED; a peer first
 * publishes its record (Atomics.store of the ring's tail), then rings:
 * compare-exchange PARKED -> AWAKE and notify. With sequentially consistent
 * atomics either the owner's re-check sees the record or the peer's
 * exchange sees PARKED, so no wake-up is lost — and a peer makes the
 * notify system call only when the owner really sleeps.
 *
 * Word 1 is set to DEAD when the isolate exits, so that a peer blocked in
 * `callSync` on it stops waiting.
 *
 * Layout: Int32 [0] state (AWAKE | PARKED), [1] DEAD flag; 128 bytes so
 * that two doorbells never share a cache line.
 */

export const AWAKE = 0;
export const PARKED = 1;
export const STATE = 0;
export const DEAD_FLAG = 1;

export function newDoorbell(): Int32Array {
  return new Int32Array(new SharedArrayBuffer(128));
}

/** Wakes the bell's owner if it is parked. */
export function ring(bell: Int32Array): void {
  if (Atomics.load(bell, STATE) === PARKED && Atomics.compareExchange(bell, STATE, PARKED, AWAKE) === PARKED) {
    Atomics.notify(bell, STATE);
  }
}

/** Marks the bell's owner dead and wakes whoever waits on it. */
export function markDead(bell: Int32Array): void {
  Atomics.store(bell, DEAD_FLAG, 1);
  Atomics.notify(bell, DEAD_FLAG);
  Atomics.store(bell, STATE, AWAKE);
  Atomics.notify(bell, STATE);
}

export function isDead(bell: Int32Array): boolean {
  return Atomics.load(bell, DEAD_FLAG) !== 0;
}
