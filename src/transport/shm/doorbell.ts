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
 * Word 1 is set when the isolate ends, so that a peer blocked in
 * `callSync` on it stops waiting: to DIED, or to STOPPED when it was asked
 * to stop (the caller then gets ECLOSED, as an async call does). The first
 * word set stays: an isolate that marks itself stopped and then exits is
 * still stopped.
 *
 * Layout: Int32 [0] state (AWAKE | PARKED), [1] how it ended (0 while it
 * lives); 128 bytes so that two doorbells never share a cache line.
 */

export const AWAKE = 0;
export const PARKED = 1;
export const STATE = 0;
export const DEAD_FLAG = 1;
const DIED = 1;
const STOPPED = 2;

export function newDoorbell(): Int32Array {
  return new Int32Array(new SharedArrayBuffer(128));
}

/** Wakes the bell's owner if it is parked. */
export function ring(bell: Int32Array): void {
  if (Atomics.load(bell, STATE) === PARKED && Atomics.compareExchange(bell, STATE, PARKED, AWAKE) === PARKED) {
    Atomics.notify(bell, STATE);
  }
}

/** Marks the bell's owner ended (unless it already is: the first mark stays) and wakes whoever waits on it. */
export function markDead(bell: Int32Array, how: 'died' | 'stopped' = 'died'): void {
  Atomics.compareExchange(bell, DEAD_FLAG, 0, how === 'stopped' ? STOPPED : DIED);
  Atomics.notify(bell, DEAD_FLAG);
  Atomics.store(bell, STATE, AWAKE);
  Atomics.notify(bell, STATE);
}

export function isDead(bell: Int32Array): boolean {
  return Atomics.load(bell, DEAD_FLAG) !== 0;
}

/** Whether the bell's owner ended because it was asked to stop (not a crash). */
export function wasStopped(bell: Int32Array): boolean {
  return Atomics.load(bell, DEAD_FLAG) === STOPPED;
}
