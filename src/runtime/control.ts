/**
 * Control requests between a worker and the main thread: name lookups and
 * bindings, channel set-up, stats. Each request settles once: by its
 * response, or with the error that ended the link it went over.
 */
import { asFosError, FosError, fromWire, toWire, type ErrorCode } from '../errors.js';
import type { KernelLink } from '../transport/kernel/link.js';
import type { RequestFrame, ResponseFrame } from '../transport/kernel/frames.js';
import { woke } from '../util/wakeups.js';

const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;

export type ControlHandler = (arg: unknown, from: number) => unknown;

interface PendingRequest {
  readonly peer: number;
  readonly resolve: (v: unknown) => void;
  readonly reject: (e: FosError) => void;
}

export class Control {
  private nextId = 1;
  private readonly pending = new Map<number, PendingRequest>();
  private readonly handlers = new Map<string, ControlHandler>();

  handle(op: string, h: ControlHandler): void {
    this.handlers.set(op, h);
  }

  /** Sends a request; settles with the answer, the link's failure, or ETIMEDOUT after `timeoutMs`. */
  request(link: KernelLink, op: string, arg: unknown, timeoutMs = DEFAULT_REQUEST_TIMEOUT_MS): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      try {
        link.postUnacked({ t: 'q', id, op, arg });
      } catch (e) {
        reject(asFosError(e));
        return;
      }
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new FosError('ETIMEDOUT', `no answer to ${op} from isolate ${link.peer} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, {
        peer: link.peer,
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
    });
  }

  onRequest(link: KernelLink, f: RequestFrame): void {
    const reply = (r: ResponseFrame): void => {
      try {
        link.postUnacked(r);
      } catch {
        // The requester is gone; nobody waits for this answer.
      }
    };
    const h = this.handlers.get(f.op);
    if (h === undefined) {
      reply({ t: 'r', id: f.id, e: toWire(new FosError('ENOSYS', `unknown control op ${f.op}`)) });
      return;
    }
    woke();
    Promise.resolve()
      .then(() => h(f.arg, link.peer))
      .then(
        (v) => reply({ t: 'r', id: f.id, v }),
        (e: unknown) => reply({ t: 'r', id: f.id, e: toWire(asFosError(e)) }),
      );
  }

  onResponse(f: ResponseFrame): void {
    const p = this.pending.get(f.id);
    if (p === undefined) return;
    this.pending.delete(f.id);
    woke();
    if (f.e !== undefined) p.reject(fromWire(f.e));
    else p.resolve(f.v);
  }

  failPeer(peer: number, code: ErrorCode, why: string): void {
    for (const [id, p] of this.pending) {
      if (p.peer !== peer) continue;
      this.pending.delete(id);
      p.reject(new FosError(code, why));
    }
  }
}
