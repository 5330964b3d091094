/**
 * The part of AbortSignal the transports use, and a light implementation of
 * it for the runtime's own per-call signal: an AbortController per call
 * costs an EventTarget and its bookkeeping on the hot path of every call.
 */
export interface AbortLike {
  readonly aborted: boolean;
  addEventListener(type: 'abort', listener: () => void, opts?: { once?: boolean }): void;
  removeEventListener(type: 'abort', listener: () => void): void;
}

/** A one-shot abort signal with at most a few listeners. */
export class Withdrawal implements AbortLike {
  private listeners: (() => void)[] | undefined;
  aborted = false;

  addEventListener(_type: 'abort', listener: () => void): void {
    (this.listeners ??= []).push(listener);
  }

  removeEventListener(_type: 'abort', listener: () => void): void {
    const l = this.listeners;
    if (l === undefined) return;
    const i = l.indexOf(listener);
    if (i >= 0) l.splice(i, 1);
  }

  abort(): void {
    if (this.aborted) return;
    this.aborted = true;
    const l = this.listeners;
    this.listeners = undefined;
    if (l !== undefined) for (const f of l) f();
  }
}
