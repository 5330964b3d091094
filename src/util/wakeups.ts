/**
 * A count of the promise chains fos set moving: a promise it settled (a
 * send's verdict, a call's answer, a message handed to a waiting receive)
 * or an async handler it started. The shm pump reads it to learn whether
 * the work it just did left chains that need turns of the microtask queue
 * before it looks for more work. Each turn it gives costs an allocation
 * (about 200 bytes an `await`), which at one call in a few µs made the
 * young-generation GC pause a polling service every thousand calls or so.
 * A site that sets a chain moving without counting it only makes that
 * chain slower (the pump still gives a turn now and then), never wrong.
 *
 * Beside it, a count of the records this isolate wrote into its rings: a
 * chain that got as far as its next send (a caller's next call, a
 * handler's answer) has what it needed, and the pump stops giving turns.
 */
let count = 0;
let writes = 0;

export function woke(): void {
  count++;
}

export function wakeups(): number {
  return count;
}

export function wrote(): void {
  writes++;
}

export function written(): number {
  return writes;
}
