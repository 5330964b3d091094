/**
 * The node's system services on its main thread: the name table, the
 * channel broker that introduces isolates to each other, and the table of
 * spawned isolates whose deaths it announces.
 *
 * Invariants:
 * - `workers` holds exactly the isolates whose thread is alive (started and
 *   not yet exited); isolate numbers are never reused;
 * - `pairs` holds one key per pair of live workers that were given a
 *   MessageChannel, so a pair never gets two;
 * - every change to the name table is announced to every live worker (and
 *   to the main runtime's cache); a binding is answered only once every
 *   worker has confirmed it dropped the name from its cache (or failed to
 *   within a second), so that once createMailbox resolves no isolate still
 *   answers a lookup from before it — whatever transport its next message
 *   from here comes by.
 */
import { MessageChannel, type MessagePort, type Worker } from 'node:worker_threads';
import { FosError, type WireError } from '../errors.js';
import type { NameService } from '../names/client.js';
import { NameRegistry, type BindingKind, type NameEntry, type NameListing } from '../names/registry.js';
import { Replicas, type NamesUpdate, type WireBinding } from '../names/replicas.js';
import { assertRef, type Ref } from '../runtime/ref.js';
import type { Runtime } from '../runtime/runtime.js';
import type { PushEvent } from '../transport/kernel/frames.js';
import { markDead, wasStopped } from '../transport/shm/doorbell.js';
import { icbView } from '../transport/shm/icb.js';

export type IsolateState = 'starting' | 'running' | 'stopping' | 'exited' | 'crashed';

export interface WorkerRecord {
  readonly isolate: number;
  readonly module: string;
  readonly worker: Worker;
  /** Its control block: doorbell and sync slot. */
  readonly icb: SharedArrayBuffer;
  state: IsolateState;
  exitCode?: number;
  error?: string;
  /** Settled when the module has loaded and its names are bound (or it failed). */
  onReady?: (err?: WireError) => void;
}

/** What stats keep of an isolate that ended: not its Worker nor its control block (a megabyte of shared memory each). */
export type EndedIsolate = Pick<WorkerRecord, 'isolate' | 'module' | 'state' | 'exitCode' | 'error'>;

const KEEP_ENDED = 256;
/** How long a binding waits for a busy worker (a polling loop, a callSync) to confirm it dropped the name. */
const ANNOUNCE_TIMEOUT_MS = 1000;

export class Hub {
  readonly registry = new NameRegistry();
  /** Other nodes' names (see replicas.ts for how conflicts resolve). */
  readonly replicas = new Replicas();
  /** Sends a change of this node's names to every peer node (set when the node has a proxy). */
  broadcast: ((update: NamesUpdate) => void) | undefined;
  /** Hears every isolate that ended without being stopped once it was ready (set by the node: its status event); one that ends before fails its spawn instead. */
  onCrash: ((ended: EndedIsolate) => void) | undefined;
  private readonly workers = new Map<number, WorkerRecord>();
  /** The most recent isolates that ended, for stats; bounded. */
  private readonly ended: EndedIsolate[] = [];
  private readonly pairs = new Set<string>();
  private nextIsolate = 1;
  private rt!: Runtime;

  /** The name service as the main thread's own runtime sees it: the table itself. */
  readonly localNames: NameService = {
    lookup: (name) => Promise.resolve(this.lookup(name)),
    bind: (name, kind, ref) => {
      try {
        return this.bind(name, kind, ref);
      } catch (e) {
        return Promise.reject(e);
      }
    },
  };

  attach(rt: Runtime): void {
    this.rt = rt;
    const c = rt.control;
    c.handle('lookup', (arg) => this.lookup(String(arg)));
    c.handle('bind', (arg, from) => {
      const { name, kind, ref } = arg as { name: string; kind: BindingKind; ref: unknown };
      return this.bind(name, kind === 'unique' ? 'unique' : 'fleet', ownRef(ref, from));
    });
    c.handle('unbind', (arg, from) => this.unbind(ownRef(arg, from)));
    c.handle('connect', (arg, from) => this.introduce(from, Number(arg)));
    // A worker blocked in callSync asks: the answer goes to its sync slot.
    c.handle('lookupSync', (arg, from) => {
      const { name, ticket } = arg as { name: string; ticket: number };
      const w = this.workers.get(from);
      if (w === undefined) return;
      // Answered at once, in the order asked: the slot's one writer keeps its protocol.
      const slot = icbView(w.icb).slot;
      let entry: NameEntry | undefined;
      try {
        entry = this.lookup(name);
      } catch (e) {
        slot.write(ticket, false, e);
        return;
      }
      slot.write(ticket, true, entry);
    });
    c.handle('relayOffer', (arg, from) => {
      const { peer, sab, capacity } = arg as { peer: number; sab: SharedArrayBuffer; capacity: number };
      this.push(peer, { type: 'offer', from, sab, capacity });
    });
    c.handle('ready', (arg, from) => this.workers.get(from)?.onReady?.(arg === null ? undefined : (arg as WireError)));
  }

  newIsolateNumber(): number {
    return this.nextIsolate++;
  }

  addWorker(rec: WorkerRecord): void {
    this.workers.set(rec.isolate, rec);
  }

  worker(isolate: number): WorkerRecord | undefined {
    return this.workers.get(isolate);
  }

  liveWorkers(): WorkerRecord[] {
    return [...this.workers.values()];
  }

  /** The records of those of `isolates` that still run. */
  liveWorkersOf(isolates: readonly number[]): WorkerRecord[] {
    return isolates.map((i) => this.workers.get(i)).filter((w): w is WorkerRecord => w !== undefined);
  }

  endedWorkers(): readonly EndedIsolate[] {
    return this.ended;
  }

  /** The cluster-wide entry of `name`: this node's bindings and its peers'. */
  lookup(name: string): NameEntry | undefined {
    return this.replicas.merge(name, this.rt.node, this.registry.lookup(name));
  }

  /** Every name of the cluster, as this node sees it. */
  list(): NameListing[] {
    return this.replicas.list(this.rt.node, (n) => this.registry.lookup(n), this.registry.list().map((l) => l.name));
  }

  /** This node's own bindings, in full: what a new peer session starts with. */
  ownNames(): NamesUpdate {
    return { full: true, entries: this.registry.list().map((l): WireBinding => [l.name, l.kind, [...l.members]]) };
  }

  /**
   * Binds, then resolves once every worker's cache has dropped the name.
   * EEXIST when a peer node already binds the name in a conflicting way; a
   * binding made on two nodes at once resolves as replicas.ts describes.
   */
  bind(name: string, kind: BindingKind, ref: Ref): Promise<void> {
    if (ref.address.node !== this.rt.node) throw new FosError('EINVAL', 'a node binds only its own mailboxes');
    const held = this.replicas.winner(name);
    if (held !== undefined && (kind === 'unique' || held.entry.kind === 'unique')) {
      throw new FosError('EEXIST', `${name} is already bound on node ${held.node}${held.entry.kind === 'fleet' ? ' as a fleet' : ''}`);
    }
    this.registry.bind(name, kind, ref);
    return this.changed([name]);
  }

  unbind(ref: Ref): void {
    void this.changed(this.registry.unbindMailbox(ref.address));
  }

  /** A peer node's names changed: this node's isolates forget what they cached. */
  peerNames(peer: string, update: unknown): void {
    void this.announce(this.replicas.apply(peer, update));
  }

  /** A peer node is down: its names go. */
  dropPeer(peer: string): void {
    void this.announce(this.replicas.drop(peer));
  }

  /** This node's own names changed: its isolates and its peers hear of it. */
  private changed(names: string[]): Promise<void> {
    if (names.length > 0 && this.broadcast !== undefined) {
      const entries = names.map((n): WireBinding => {
        const e = this.registry.lookup(n);
        return [n, e?.kind ?? 'fleet', e === undefined ? [] : [...e.members]];
      });
      this.broadcast({ full: false, entries });
    }
    return this.announce(names);
  }

  /** Introduces a new worker to every live one, so that any two can talk (and callSync) at once. */
  introduceToAll(isolate: number): void {
    for (const w of this.workers.keys()) if (w !== isolate) this.introduce(isolate, w);
  }

  /** Gives `a` and `b` a channel of their own, once per pair. */
  private introduce(a: number, b: number): void {
    if (!this.workers.has(b)) throw new FosError('ENOENT', `no isolate ${b}`);
    const wa = this.workers.get(a);
    const wb = this.workers.get(b)!;
    if (a === b || wa === undefined) return;
    const key = a < b ? `${a}:${b}` : `${b}:${a}`;
    if (this.pairs.has(key)) return; // the ports are on their way already
    this.pairs.add(key);
    const { port1, port2 } = new MessageChannel();
    this.push(a, { type: 'port', peer: b, port: port1, icb: wb.icb }, [port1]);
    this.push(b, { type: 'port', peer: a, port: port2, icb: wa.icb }, [port2]);
  }

  /** A worker's thread ended: its names go, and everyone hears it is gone. */
  onExit(isolate: number, exitCode: number): void {
    const rec = this.workers.get(isolate);
    if (rec === undefined) return;
    this.workers.delete(isolate);
    // The doorbell decides, so that blocked callSyncs, async calls and stats
    // agree: stopped if the worker marked itself so when its stop came, or
    // (terminated after its grace) if it was stopping and marked nothing;
    // died if it crashed first, even while a stop was on its way.
    const bell = icbView(rec.icb).bell;
    markDead(bell, rec.state === 'stopping' ? 'stopped' : 'died');
    const stopped = wasStopped(bell);
    rec.state = stopped ? 'exited' : 'crashed';
    rec.exitCode = exitCode;
    const ended: EndedIsolate = { isolate, module: rec.module, state: rec.state, exitCode, ...(rec.error !== undefined ? { error: rec.error } : {}) };
    this.ended.push(ended);
    if (this.ended.length > KEEP_ENDED) this.ended.shift();
    for (const key of [...this.pairs]) {
      const [x, y] = key.split(':').map(Number);
      if (x === isolate || y === isolate) this.pairs.delete(key);
    }
    void this.changed(this.registry.unbindIsolate(isolate));
    const code = stopped ? 'ECLOSED' : 'ECONNRESET';
    for (const w of this.workers.values()) this.push(w.isolate, { type: 'down', isolate, code });
    this.rt.peerDown(isolate, code);
    // One that died before it was ready fails its spawn, which says why: not a crash of a running service.
    if (!stopped && rec.onReady === undefined) this.onCrash?.(ended);
    rec.onReady?.(
      stopped
        ? { code: 'ECLOSED', message: `isolate ${isolate} was stopped before it was ready` }
        : { code: 'ECONNRESET', message: rec.error ?? `isolate ${isolate} exited with code ${exitCode} before it was ready` },
    );
  }

  /** Tells every isolate that these names changed; resolves when each has confirmed (at most a second each). */
  private announce(names: string[]): Promise<void> {
    if (names.length === 0) return Promise.resolve();
    this.rt.names.invalidate(names);
    const confirmed: Promise<unknown>[] = [];
    for (const w of this.workers.values()) {
      const link = this.rt.link(w.isolate);
      if (link !== undefined) confirmed.push(this.rt.control.request(link, 'names', names, ANNOUNCE_TIMEOUT_MS).catch(() => {}));
    }
    return Promise.all(confirmed).then(() => {});
  }

  push(isolate: number, ev: PushEvent, transfer?: MessagePort[]): void {
    const link = this.rt.link(isolate);
    if (link === undefined) return;
    try {
      link.postUnacked({ t: 'p', ev }, transfer);
    } catch {
      // The worker is exiting; its 'exit' event cleans up.
    }
  }
}

/** A ref that isolate `from` binds or unbinds: one of its own mailboxes (as a peer node binds only its own), else EINVAL. */
function ownRef(ref: unknown, from: number): Ref {
  const r = assertRef(ref);
  if (r.address.isolate !== from) throw new FosError('EINVAL', `isolate ${from} binds only its own mailboxes, not one of isolate ${r.address.isolate}`);
  return r;
}
