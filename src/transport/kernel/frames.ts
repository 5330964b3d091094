/**
 * Frames exchanged between two isolates of one node over a MessagePort (the
 * kernel transport). Every frame is structured-cloned by postMessage, so the
 * keys are short: they are copied with every message.
 */
import type { WireError } from '../../errors.js';
import type { Ref } from '../../runtime/ref.js';
import type { MessagePort } from 'node:worker_threads';

/**
 * Acknowledgements ride on any frame: `a` is a flat list of inclusive seq
 * ranges [from0, to0, from1, to1, ...] that reached their mailbox, `n` the
 * seqs refused with the reason.
 */
export interface Acks {
  a?: number[];
  n?: [number, WireError][];
}

/** A message for mailbox `to` of the receiving isolate: data, or a call when `c` is set. */
export interface MsgFrame extends Acks {
  t: 'm';
  /** Per-link sequence number, the id the receiver acknowledges. */
  s: number;
  to: number;
  cap: string;
  /** 1: wait for room when the mailbox is full; 0: refuse with EAGAIN. */
  w: 0 | 1;
  d: unknown;
  f?: Ref;
  /** Call id, unique per calling isolate. */
  c?: number;
  /** Method, on a call. */
  m?: string;
  /** 1: `d` is an array of messages (sendMany), delivered one by one. */
  b?: 1;
  /** Set on a message a worker hands the main thread for another node: that node, and the isolate there (`to` is the mailbox). */
  nd?: string;
  ni?: number;
}

export interface AckFrame extends Acks {
  t: 'a';
}

/** Withdraw message `s` (of the shm channel when `v` is 1) if it still waits for room in its mailbox. */
export interface CancelFrame extends Acks {
  t: 'x';
  s: number;
  v?: 1;
}

/** The sender offers an shm channel: drain this ring after every earlier frame. */
export interface OfferFrame extends Acks {
  t: 'o';
  sab: SharedArrayBuffer;
  capacity: number;
}

/** The receiver found the sender's ring corrupt and dropped it. */
export interface KillFrame extends Acks {
  t: 'k';
  why: string;
  /** Every record up to this seq was handled (delivered, held, or refused with its answer); none after it was. */
  upTo: number;
}

/**
 * The sender could not read a frame of this link (its port emitted
 * 'messageerror'): that frame is lost, and with it maybe a meta entry
 * (flat.ts), so neither end can trust the frames that follow. Both ends
 * give the link up (see KernelLink.unreadable).
 */
export interface BrokenFrame extends Acks {
  t: 'e';
  why: string;
}

/** The answer to call `c`; `cap` is the reply capability the caller gave. */
export interface ReplyFrame extends Acks {
  t: 'y';
  cap: string;
  c: number;
  ok: boolean;
  d?: unknown;
  e?: WireError;
  /** Set on a reply a worker hands the main thread for a caller on another node: that node and isolate. */
  nd?: string;
  ni?: number;
}

/** A control request between a worker and the main thread (names, channels, stats). */
export interface RequestFrame {
  t: 'q';
  id: number;
  op: string;
  arg: unknown;
}

export interface ResponseFrame {
  t: 'r';
  id: number;
  v?: unknown;
  e?: WireError;
}

/** A one-way notice from the main thread to a worker. */
export interface PushFrame {
  t: 'p';
  ev: PushEvent;
}

export type PushEvent =
  | { type: 'port'; peer: number; port: MessagePort; icb: SharedArrayBuffer }
  | { type: 'down'; isolate: number; code: 'ECONNRESET' | 'ECLOSED' }
  | { type: 'offer'; from: number; sab: SharedArrayBuffer; capacity: number }
  | { type: 'nodeDown'; node: string; why: string }
  | { type: 'stop' };

export type Frame = MsgFrame | AckFrame | CancelFrame | OfferFrame | KillFrame | BrokenFrame | ReplyFrame | RequestFrame | ResponseFrame | PushFrame;
