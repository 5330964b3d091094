/**
 * Per-isolate counters: messages and bytes by transport, errors by code.
 *
 * Bytes are those of the payloads the runtime can measure without extra
 * work: binary (`ArrayBuffer`, typed arrays) and string payloads (UTF-8). A
 * structured-cloned object on the kernel path is counted as a message but
 * adds no bytes, since measuring it would cost a second serialization.
 */
import type { ErrorCode } from '../errors.js';
import type { Address } from './ref.js';

export type TransportName = 'local' | 'kernel' | 'shm' | 'tcp';

export interface TransportCounters {
  messagesSent: number;
  bytesSent: number;
  messagesReceived: number;
  bytesReceived: number;
}

export interface MailboxStats {
  readonly address: Address;
  readonly names: readonly string[];
  readonly capacity: number;
  /** Messages queued, not yet received. */
  readonly depth: number;
  /** Deliveries waiting for room. */
  readonly waiting: number;
  readonly received: number;
  readonly refusedFull: number;
  /** Messages and payload bytes that reached this mailbox, by transport. */
  readonly arrived: Record<TransportName, { readonly messages: number; readonly bytes: number }>;
}

export interface IsolateStats {
  readonly isolate: number;
  readonly transports: Record<TransportName, TransportCounters>;
  readonly errors: Partial<Record<ErrorCode, number>>;
  readonly callsInFlight: number;
  readonly mailboxes: readonly MailboxStats[];
}

export function payloadBytes(d: unknown): number {
  // Ordered by what messages most often are; counted for every message, so cheap first.
  if (typeof d !== 'object' || d === null) return typeof d === 'string' ? Buffer.byteLength(d, 'utf8') : 0;
  if (d instanceof Uint8Array) return d.byteLength;
  if (Array.isArray(d)) return 0;
  if (d instanceof ArrayBuffer) return d.byteLength;
  if (ArrayBuffer.isView(d)) return d.byteLength;
  return 0;
}

function counters(): TransportCounters {
  return { messagesSent: 0, bytesSent: 0, messagesReceived: 0, bytesReceived: 0 };
}

export class Counters {
  readonly transports: Record<TransportName, TransportCounters> = {
    local: counters(),
    kernel: counters(),
    shm: counters(),
    tcp: counters(),
  };
  readonly errors: Partial<Record<ErrorCode, number>> = {};

  sent(t: TransportName, data: unknown): void {
    const c = this.transports[t];
    c.messagesSent++;
    c.bytesSent += payloadBytes(data);
  }

  /** Counts a batch (sendMany) as the messages it carries. */
  sentMany(t: TransportName, items: readonly unknown[]): void {
    for (const d of items) this.sent(t, d);
  }

  /** Counts a message that arrived; returns its payload bytes. */
  received(t: TransportName, data: unknown): number {
    const c = this.transports[t];
    const bytes = payloadBytes(data);
    c.messagesReceived++;
    c.bytesReceived += bytes;
    return bytes;
  }

  error(code: ErrorCode): void {
    this.errors[code] = (this.errors[code] ?? 0) + 1;
  }
}
