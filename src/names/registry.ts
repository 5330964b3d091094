/**
 * The node's name table, held by the main thread (the name service of fos).
 *
 * Invariants:
 * - a name is bound either uniquely (exactly one member) or as a fleet (one
 *   or more members); an entry with no member does not exist;
 * - a mailbox appears at most once per name;
 * - `byIsolate` lists, for each isolate, the names it holds a member in, so
 *   that an isolate's death removes its bindings without a scan.
 */
import { FosError } from '../errors.js';
import type { Address, Ref } from '../runtime/ref.js';
import { validateName } from './name.js';

export type BindingKind = 'unique' | 'fleet';

export interface NameEntry {
  readonly kind: BindingKind;
  readonly members: Ref[];
}

export interface NameListing {
  readonly name: string;
  readonly kind: BindingKind;
  readonly members: readonly Ref[];
}

function sameAddress(a: Address, b: Address): boolean {
  return a.mailbox === b.mailbox && a.isolate === b.isolate && a.node === b.node;
}

export class NameRegistry {
  private readonly entries = new Map<string, NameEntry>();
  private readonly byIsolate = new Map<number, Set<string>>();

  /** Binds `ref` under `name`; EEXIST if the name is taken in a way that conflicts. */
  bind(name: string, kind: BindingKind, ref: Ref): void {
    validateName(name);
    const entry = this.entries.get(name);
    if (entry === undefined) {
      this.entries.set(name, { kind, members: [ref] });
    } else if (kind === 'unique' || entry.kind === 'unique') {
      throw new FosError('EEXIST', `${name} is already bound${entry.kind === 'fleet' ? ' as a fleet' : ''}`);
    } else if (!entry.members.some((m) => sameAddress(m.address, ref.address))) {
      entry.members.push(ref);
    }
    let names = this.byIsolate.get(ref.address.isolate);
    if (names === undefined) this.byIsolate.set(ref.address.isolate, (names = new Set()));
    names.add(name);
  }

  /** Removes every binding of the mailbox at `address`; returns the names that changed. */
  unbindMailbox(address: Address): string[] {
    const names = this.byIsolate.get(address.isolate);
    if (names === undefined) return [];
    const changed: string[] = [];
    for (const name of names) {
      if (this.removeMember(name, (m) => sameAddress(m.address, address))) changed.push(name);
    }
    for (const name of changed) {
      if (!this.hasMemberOf(name, address.isolate)) names.delete(name);
    }
    if (names.size === 0) this.byIsolate.delete(address.isolate);
    return changed;
  }

  /** Removes every binding held by `isolate`; returns the names that changed. */
  unbindIsolate(isolate: number): string[] {
    const names = this.byIsolate.get(isolate);
    if (names === undefined) return [];
    this.byIsolate.delete(isolate);
    const changed: string[] = [];
    for (const name of names) {
      if (this.removeMember(name, (m) => m.address.isolate === isolate)) changed.push(name);
    }
    return changed;
  }

  lookup(name: string): NameEntry | undefined {
    return this.entries.get(name);
  }

  list(): NameListing[] {
    return [...this.entries].map(([name, e]) => ({ name, kind: e.kind, members: [...e.members] }));
  }

  private removeMember(name: string, match: (m: Ref) => boolean): boolean {
    const entry = this.entries.get(name);
    if (entry === undefined) return false;
    const before = entry.members.length;
    for (let i = entry.members.length - 1; i >= 0; i--) {
      if (match(entry.members[i]!)) entry.members.splice(i, 1);
    }
    if (entry.members.length === 0) this.entries.delete(name);
    return entry.members.length !== before;
  }

  private hasMemberOf(name: string, isolate: number): boolean {
    return this.entries.get(name)?.members.some((m) => m.address.isolate === isolate) ?? false;
  }
}
