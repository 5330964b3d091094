/**
 * An isolate's view of the name service: lookups answered by the node's name
 * table (on the main thread) and cached here until the table says the name
 * changed.
 *
 * Cache coherence: the main thread sends an invalidation to every isolate on
 * the same FIFO port as its lookup answers, after applying the change. An
 * answer given before a change therefore always arrives before the
 * invalidation that clears it, and an answer given after it already holds the
 * change: a cached entry is never older than the last invalidation received.
 * A new binding is answered only once every isolate has confirmed its
 * invalidation, so after createMailbox resolves no isolate answers from an
 * older entry; an unbinding (close, death) reaches the others shortly after.
 */
import { FosError } from '../errors.js';
import type { Ref } from '../runtime/ref.js';
import { validateName } from './name.js';
import type { BindingKind, NameEntry } from './registry.js';
import { pickByKey, RoundRobin, type RoutingKey } from './select.js';

/** How a fleet member is picked: by key (consistent hashing), else round robin, among the local node's members first when `prefer` is 'local'. */
export interface Selection {
  readonly key?: RoutingKey | undefined;
  readonly prefer?: 'local' | 'any' | undefined;
}

/** How an isolate reaches the node's name table. */
export interface NameService {
  lookup(name: string): Promise<NameEntry | undefined>;
  bind(name: string, kind: BindingKind, ref: Ref): Promise<void>;
}

const MAX_CURSORS = 4096;

interface CachedEntry {
  readonly members: readonly Ref[];
  readonly cursor: RoundRobin;
  /** The members a blocked caller of this isolate can wait for (see pick), made at the first callSync that needs them. */
  waitable?: readonly Ref[];
}

export class NameClient {
  private readonly cache = new Map<string, CachedEntry>();
  private readonly inflight = new Map<string, Promise<CachedEntry>>();
  /** Round-robin cursors outlive cache entries, so a change to a fleet does not send the next call to its first member. */
  private readonly cursors = new Map<string, RoundRobin>();

  constructor(
    private readonly service: NameService,
    /** This isolate's node, for `prefer: 'local'`. */
    private readonly localNode: string,
  ) {}

  /** Every member bound under `name`; ENOENT when there is none. */
  async lookup(name: string): Promise<Ref[]> {
    return [...(await this.entry(name)).members];
  }

  /** One member of `name`, as `sel` asks. */
  resolve(name: string, sel: Selection = {}): Ref | Promise<Ref> {
    const cached = this.cache.get(name);
    if (cached !== undefined) return this.pick(name, cached, sel);
    return this.entry(name).then((e) => this.pick(name, e, sel));
  }

  /**
   * `resolve` for a thread that may not wait for its event loop (callSync):
   * a cached entry, else `fetch`, which asks the name table while blocking.
   */
  resolveSync(name: string, sel: Selection, fetch: (name: string) => NameEntry | undefined, caller: number): Ref {
    let e = this.cache.get(name);
    if (e === undefined) {
      validateName(name);
      const found = fetch(name);
      if (found === undefined || found.members.length === 0) throw new FosError('ENOENT', `no such name: ${name}`);
      e = { members: found.members, cursor: this.cursorOf(name) };
      // Any invalidation still queued for this isolate predates this answer
      // and only clears it: caching it is safe.
      this.cache.set(name, e);
    }
    return this.pick(name, e, sel, caller);
  }

  bind(name: string, kind: BindingKind, ref: Ref): Promise<void> {
    validateName(name);
    return this.service.bind(name, kind, ref);
  }

  invalidate(names: Iterable<string>): void {
    for (const n of names) {
      this.cache.delete(n);
      this.inflight.delete(n);
    }
  }

  /** The round-robin cursor of `name`; the least recently made go past MAX_CURSORS. */
  private cursorOf(name: string): RoundRobin {
    let cursor = this.cursors.get(name);
    if (cursor === undefined) {
      this.cursors.set(name, (cursor = new RoundRobin()));
      if (this.cursors.size > MAX_CURSORS) this.cursors.delete(this.cursors.keys().next().value!);
    }
    return cursor;
  }

  /**
   * One member of `e` as `sel` asks. `blocked`: the isolate of a caller that
   * blocks until the answer (callSync), which can wait only for another
   * isolate of its own node: round robin passes over its own isolate and
   * other nodes' members while the fleet has others. (A key picks its member
   * whatever the caller: affinity is the point of one.)
   */
  private pick(name: string, e: CachedEntry, sel: Selection, blocked?: number): Ref {
    let members = e.members;
    if (blocked !== undefined && sel.key === undefined && members.length > 1) {
      // Made once per entry: a name client serves one isolate, so `blocked` is always the same.
      e.waitable ??= members.filter((m) => this.waitable(m, blocked));
      if (e.waitable.length > 0) members = e.waitable;
    }
    if (sel.prefer === 'local' && members.length > 1) {
      const local = members.filter((m) => m.address.node === this.localNode);
      if (local.length > 0) members = local;
    }
    const ref = sel.key === undefined ? e.cursor.pick(members) : pickByKey(members, sel.key);
    if (ref === undefined) throw new FosError('ENOENT', `no member bound under ${name}`);
    return ref;
  }

  /** Whether a caller blocked in isolate `blocked` can wait for `m`: a member of another isolate of this node. */
  private waitable(m: Ref, blocked: number): boolean {
    return m.address.node === this.localNode && m.address.isolate !== blocked;
  }

  private entry(name: string): Promise<CachedEntry> {
    const cached = this.cache.get(name);
    if (cached !== undefined) return Promise.resolve(cached);
    let p = this.inflight.get(name);
    if (p === undefined) {
      validateName(name);
      const asked: Promise<CachedEntry> = this.service.lookup(name).then((found) => {
        // An invalidation of this name while we asked removed us from
        // `inflight`: the answer may predate it, so it is used once, not cached.
        const current = this.inflight.get(name) === asked;
        if (current) this.inflight.delete(name);
        if (found === undefined || found.members.length === 0) {
          this.cursors.delete(name);
          throw new FosError('ENOENT', `no such name: ${name}`);
        }
        const e: CachedEntry = { members: found.members, cursor: this.cursorOf(name) };
        if (current) this.cache.set(name, e);
        return e;
      });
      this.inflight.set(name, (p = asked));
    }
    return p;
  }
}
