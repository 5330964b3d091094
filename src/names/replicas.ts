/**
 * The names of other nodes, as replicated to this one, and the cluster-wide
 * view that merges them with this node's own table.
 *
 * Each node owns its bindings and sends them to every peer: its full table
 * when a session starts, the names that changed after. An update lists, per
 * name, the node's members ([] when it has none left); a full update
 * replaces everything known of the node.
 *
 * Conflicts (DESIGN.md §4): a unique name can be bound on two nodes at once,
 * before either has heard of the other's binding. Every node resolves it
 * the same way, from the same replicated data: the entry of the node whose
 * name sorts first (by code unit) wins, and its kind decides; a unique
 * entry contributes its one member, a fleet takes the members of every node
 * that binds the name as a fleet. The losing binding stays in its own
 * node's table, shadowed, and shows again if the winner's goes.
 */
import { FosError } from '../errors.js';
import { isRef, type Ref } from '../runtime/ref.js';
import { validateName } from './name.js';
import type { BindingKind, NameEntry, NameListing } from './registry.js';

/** One name of a node's table, as it travels: [name, kind, members]. */
export type WireBinding = [string, BindingKind, Ref[]];

export interface NamesUpdate {
  readonly full: boolean;
  readonly entries: WireBinding[];
}

export class Replicas {
  private readonly byNode = new Map<string, Map<string, NameEntry>>();

  /** Applies `peer`'s update; returns the names whose view changed. Throws EINVAL on a malformed update. */
  apply(peer: string, update: unknown): string[] {
    const u = checkUpdate(peer, update);
    let table = this.byNode.get(peer);
    const changed = new Set<string>();
    if (u.full || table === undefined) {
      for (const name of table?.keys() ?? []) changed.add(name);
      table = new Map();
      this.byNode.set(peer, table);
    }
    for (const [name, kind, members] of u.entries) {
      changed.add(name);
      if (members.length === 0) table.delete(name);
      else table.set(name, { kind, members });
    }
    return [...changed];
  }

  /** Forgets `peer` (it is down); returns its names. */
  drop(peer: string): string[] {
    const table = this.byNode.get(peer);
    this.byNode.delete(peer);
    return table === undefined ? [] : [...table.keys()];
  }

  /**
   * Of the other nodes that bind `name`, the one whose binding the cluster
   * sees (the conflict rule above: the first by name), if any: a new
   * binding is checked against it, never against one it shadows (which
   * the insertion order of peers would otherwise pick).
   */
  winner(name: string): { node: string; entry: NameEntry } | undefined {
    let best: { node: string; entry: NameEntry } | undefined;
    for (const [node, table] of this.byNode) {
      const entry = table.get(name);
      if (entry !== undefined && (best === undefined || byNodeName(node, best.node) < 0)) best = { node, entry };
    }
    return best;
  }

  /** Every name some peer binds. */
  names(): Set<string> {
    const all = new Set<string>();
    for (const table of this.byNode.values()) for (const name of table.keys()) all.add(name);
    return all;
  }

  /** The cluster-wide entry of `name`: this node's own `local` merged with every replica (see the conflict rule above). */
  merge(name: string, localNode: string, local: NameEntry | undefined): NameEntry | undefined {
    const found: [string, NameEntry][] = local === undefined ? [] : [[localNode, local]];
    for (const [node, table] of this.byNode) {
      const e = table.get(name);
      if (e !== undefined) found.push([node, e]);
    }
    if (found.length === 0) return undefined;
    if (found.length === 1) return { kind: found[0]![1].kind, members: [...found[0]![1].members] };
    found.sort(([a], [b]) => byNodeName(a, b));
    const winner = found[0]![1];
    if (winner.kind === 'unique') return { kind: 'unique', members: [...winner.members] };
    return { kind: 'fleet', members: found.filter(([, e]) => e.kind === 'fleet').flatMap(([, e]) => e.members) };
  }

  /** The cluster-wide listing, `own` being this node's table. */
  list(localNode: string, own: (name: string) => NameEntry | undefined, ownNames: Iterable<string>): NameListing[] {
    const names = this.names();
    for (const n of ownNames) names.add(n);
    const out: NameListing[] = [];
    for (const name of [...names].sort()) {
      const e = this.merge(name, localNode, own(name));
      if (e !== undefined) out.push({ name, kind: e.kind, members: e.members });
    }
    return out;
  }
}

/** The conflict rule's order: node names by code unit, the first wins. */
function byNodeName(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function checkUpdate(peer: string, update: unknown): NamesUpdate {
  if (typeof update !== 'object' || update === null) throw new FosError('EINVAL', 'malformed name update');
  const { full, entries } = update as Partial<NamesUpdate>;
  if (typeof full !== 'boolean' || !Array.isArray(entries)) throw new FosError('EINVAL', 'malformed name update');
  const out: WireBinding[] = [];
  for (const e of entries as unknown[]) {
    if (!Array.isArray(e) || e.length !== 3) throw new FosError('EINVAL', 'malformed name update entry');
    const [name, kind, members] = e as [unknown, unknown, unknown];
    if (typeof name !== 'string' || (kind !== 'unique' && kind !== 'fleet') || !Array.isArray(members)) throw new FosError('EINVAL', 'malformed name update entry');
    validateName(name);
    // A node binds only its own mailboxes: members elsewhere are refused.
    if (!members.every((m) => isRef(m) && m.address.node === peer)) throw new FosError('EINVAL', `node ${peer} sent a binding of ${name} to a mailbox of another node`);
    if (kind === 'unique' && members.length > 1) throw new FosError('EINVAL', `unique name ${name} with ${members.length} members`);
    out.push([name, kind, members as Ref[]]);
  }
  return { full, entries: out };
}
