// The yardsticks of E2: a system call, a blocking read, and a plain call.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import type { RoundTripSubject } from './subject.js';

interface Yardstick {
  readonly run: () => unknown;
  readonly close?: () => void;
  /** What is measured, where it differs from the subject's label. */
  readonly label?: string;
}

/** A synchronous operation of the main thread, set up by `setUp` (which may open a file). */
function yardstick(id: string, label: string, setUp: () => Yardstick): RoundTripSubject {
  return {
    id,
    label,
    family: 'system',
    async open() {
      const y = setUp();
      return { ...(y.label !== undefined ? { label: y.label } : {}), probe: () => ({ kind: 'sync', run: y.run }), close: async () => y.close?.() };
    },
  };
}

/** fstat of standard input, or of a file of our own where there is none (a CI run may have no stdin). */
export const fstat = yardstick('fstat', 'fs.fstatSync(0)', () => {
  try {
    fstatSync(0);
    return { run: () => fstatSync(0) };
  } catch {
    const fd = openSync('/dev/null', 'r');
    return { run: () => fstatSync(fd), close: () => closeSync(fd), label: 'fs.fstatSync(fd of /dev/null)' };
  }
});

/** One byte read from /dev/zero: a read(2) that never waits. */
export const readZero = yardstick('read', 'fs.readSync(/dev/zero, 1 B)', () => {
  const fd = openSync('/dev/zero', 'r');
  const buf = Buffer.alloc(1);
  return { run: () => readSync(fd, buf, 0, 1, null), close: () => closeSync(fd) };
});

/**
 * A plain function call: the timing loop calls a function that counts.
 * That loop times many different operations, so V8 cannot inline this one
 * into it: what is measured is a real call that never leaves the thread.
 */
export const plainCall = yardstick('function', 'plain function call', () => {
  let calls = 0;
  return { run: () => ++calls };
});
