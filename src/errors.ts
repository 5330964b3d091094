/**
 * FosError and its stable codes.
 *
 * A code is a plain string that survives crossing isolates and machines: an
 * error is carried as `{ code, message, remote? }` (see `toWire`/`fromWire`),
 * never as a class instance, so a receiver rebuilds the same `FosError`
 * whatever transport carried it.
 */

export const ERROR_CODES = [
  'ENOENT', // no such name or mailbox
  'EEXIST', // a unique name is already bound
  'EACCES', // bad or missing capability, failed node authentication
  'EAGAIN', // full, with a non-waiting send
  'EMSGSIZE', // message larger than the transport allows
  'ETIMEDOUT', // no reply within the timeout
  'ECONNRESET', // peer isolate or node went away with the message undelivered
  'ECLOSED', // mailbox, service or runtime closed
  'ECANCELED', // the caller's AbortSignal fired before delivery
  'EINVAL', // bad argument: malformed name, uncloneable value, ...
  'ENOSYS', // a served object has no such method
  'EREMOTE', // a handler threw: remote message, code and stack kept
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

/** What a handler threw, as seen by the caller of an `EREMOTE` error. */
export interface RemoteErrorInfo {
  readonly name: string;
  readonly message: string;
  readonly code?: string;
  readonly stack?: string;
}

export class FosError extends Error {
  override readonly name = 'FosError';
  readonly code: ErrorCode;
  /** Set on `EREMOTE`: the error the remote handler threw. */
  declare readonly remote?: RemoteErrorInfo;

  constructor(code: ErrorCode, message: string, remote?: RemoteErrorInfo) {
    super(`${code}: ${message}`);
    this.code = code;
    if (remote !== undefined) (this as { remote?: RemoteErrorInfo }).remote = remote;
  }
}

/**
 * ECANCELED for an operation its AbortSignal ended: the signal's reason
 * (what `abort(reason)` was given) is the error's `cause`.
 */
export function canceled(what: string, signal: object | undefined): FosError {
  const e = new FosError('ECANCELED', what);
  const reason = signal === undefined ? undefined : (signal as { reason?: unknown }).reason;
  if (reason !== undefined) Object.defineProperty(e, 'cause', { value: reason, writable: true, configurable: true, enumerable: false });
  return e;
}

export function isFosError(e: unknown, code?: ErrorCode): e is FosError {
  return e instanceof FosError && (code === undefined || e.code === code);
}

/** The form an error takes inside a frame. */
export interface WireError {
  readonly code: ErrorCode;
  readonly message: string;
  readonly remote?: RemoteErrorInfo;
}

export function toWire(e: FosError): WireError {
  const message = e.message.startsWith(`${e.code}: `) ? e.message.slice(e.code.length + 2) : e.message;
  return e.remote === undefined ? { code: e.code, message } : { code: e.code, message, remote: e.remote };
}

/** What went wrong in `e`, without a FosError's code before it: for a message that goes on to say it under a code of its own. */
export function bareMessage(e: unknown): string {
  if (e instanceof FosError) return toWire(e).message;
  return e instanceof Error ? describe(e.message) : describe(e);
}

const KNOWN = new Set<string>(ERROR_CODES);

/** Whether `v` is one of the stable codes (what a peer sends is checked so). */
export function isErrorCode(v: unknown): v is ErrorCode {
  return typeof v === 'string' && KNOWN.has(v);
}

export function fromWire(w: unknown): FosError {
  if (typeof w === 'object' && w !== null) {
    const { code, message, remote } = w as Partial<WireError>;
    if (isErrorCode(code)) {
      return new FosError(code, String(message ?? ''), remote);
    }
  }
  return new FosError('EINVAL', 'malformed error from peer');
}

/** `String(v)`, or a placeholder for what cannot be made a string (a null-prototype object, a throwing toString). */
export function describe(v: unknown): string {
  try {
    return String(v);
  } catch {
    return Object.prototype.toString.call(v);
  }
}

/**
 * Wraps whatever a handler threw as `EREMOTE`, keeping its message, code
 * and stack: of an Error, or of an object shaped like one (a string
 * `message`: `throw { code, message }`). Never throws.
 */
export function remoteError(thrown: unknown): FosError {
  try {
    const errorLike = typeof thrown === 'object' && thrown !== null && typeof (thrown as { message?: unknown }).message === 'string';
    if (thrown instanceof Error || errorLike) {
      const e = thrown as { name?: unknown; message?: unknown; code?: unknown; stack?: unknown };
      const code = e.code;
      const message = describe(e.message);
      const stack = e.stack;
      const info: RemoteErrorInfo = {
        name: thrown instanceof Error || typeof e.name === 'string' ? describe(e.name) : 'Error',
        message,
        ...(typeof code === 'string' ? { code } : {}),
        ...(typeof stack === 'string' ? { stack } : {}),
      };
      return new FosError('EREMOTE', message, info);
    }
  } catch {
    // An Error whose properties throw: fall through to the plain description.
  }
  const text = describe(thrown);
  return new FosError('EREMOTE', text, { name: className(thrown), message: text });
}

/** What a thrown value that is not an Error is, as a class name: a string's is String (not Error, which it is not), a primitive's its wrapper's. */
function className(v: unknown): string {
  if (v === null || v === undefined) return String(v);
  try {
    const c = (Object(v) as { constructor?: { name?: unknown } }).constructor?.name;
    return typeof c === 'string' && c !== '' ? c : 'Object';
  } catch {
    return 'Object'; // a Proxy whose trap throws
  }
}

/** `e` as a FosError: itself if it is one, else EINVAL with its message (prefixed by `context`). Never throws. */
export function asFosError(e: unknown, context?: string): FosError {
  if (e instanceof FosError) return e;
  const text = e instanceof Error ? describe(e.message) : describe(e);
  return new FosError('EINVAL', context === undefined ? text : `${context}: ${text}`);
}
