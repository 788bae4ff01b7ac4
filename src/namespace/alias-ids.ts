import type { NodeId } from '../core/ids.ts';

/** A file the alias has seen: where it sits in the tree (by parent and name). */
interface Known {
  local: bigint;
  /** Parent's local id; 0 for the root and for files no longer reachable by a name. */
  parent: bigint;
  name: string;
}

/** The local id of an alias export's root. */
export const ALIAS_ROOT_LOCAL = 1n;

/**
 * The ids an alias hands out, and what they are on each endpoint. Endpoints of one alias are
 * different nodes serving replicated data, so the same file has a different id on each;
 * the alias gives every file it sees one local id of its own, remembers the path that leads
 * to it (parent and name), and learns its id on an endpoint when it first needs it there
 * (by looking the path up). A failover therefore finds the same file by name on the next
 * endpoint. On a case-insensitive export names are matched by a normalized key (NFC, lower
 * case), so `Foo` and `foo` are one file, as the export itself treats them.
 */
export class AliasIds {
  readonly #caseSensitive: boolean;
  readonly #known = new Map<bigint, Known>([
    [ALIAS_ROOT_LOCAL, { local: ALIAS_ROOT_LOCAL, parent: 0n, name: '' }],
  ]);
  readonly #children = new Map<bigint, Map<string, bigint>>();
  readonly #toInner = new Map<string, Map<bigint, NodeId>>();
  readonly #toLocal = new Map<string, Map<NodeId, bigint>>();
  /**
   * Ids of one run start in a random block (the top 16 of the 48 local bits), so an id kept
   * by a client from an earlier run of the alias is unknown (ESTALE), not someone else's file.
   */
  #next = (BigInt(1 + Math.floor(Math.random() * 0xfffe)) << 32n) + 2n;

  constructor(opts: { caseSensitive: boolean }) {
    this.#caseSensitive = opts.caseSensitive;
  }

  /** The key a name is matched by in a directory. */
  key(name: string): string {
    return this.#caseSensitive ? name : name.normalize('NFC').toLowerCase();
  }

  /** Parent and name of a local id; undefined when it was never handed out. */
  where(local: bigint): { parent: bigint; name: string } | undefined {
    const k = this.#known.get(local);
    return k && { parent: k.parent, name: k.name };
  }

  /** The id of `local` on endpoint `ep`, if known. */
  innerOf(ep: string, local: bigint): NodeId | undefined {
    return this.#toInner.get(ep)?.get(local);
  }

  /** The local id of endpoint `ep`'s id `inner`, if known. */
  localOf(ep: string, inner: NodeId): bigint | undefined {
    return this.#toLocal.get(ep)?.get(inner);
  }

  /** Bind `local` to `inner` on `ep`. */
  bind(ep: string, local: bigint, inner: NodeId): void {
    let to = this.#toInner.get(ep);
    let back = this.#toLocal.get(ep);
    if (!to || !back) {
      to = new Map();
      back = new Map();
      this.#toInner.set(ep, to);
      this.#toLocal.set(ep, back);
    }
    const old = to.get(local);
    if (old !== undefined && old !== inner && back.get(old) === local) back.delete(old);
    to.set(local, inner);
    back.set(inner, local);
  }

  /** Forget every id of `ep` (its new session may number files differently). */
  forget(ep: string): void {
    this.#toInner.delete(ep);
    this.#toLocal.delete(ep);
  }

  /**
   * Record that `name` in directory `parent` is `inner` on `ep`; returns its local id. A
   * different file now at that name takes the name over (the old local id keeps its
   * endpoint ids, so it answers as that endpoint says, but can no longer be found by path);
   * a file already known on `ep` under another name (a hard link, a rename done elsewhere)
   * keeps its local id and moves to this name.
   */
  learn(ep: string, parent: bigint, name: string, inner: NodeId): bigint {
    const key = this.key(name);
    const atName = this.#children.get(parent)?.get(key);
    if (atName !== undefined) {
      const bound = this.innerOf(ep, atName);
      if (bound === undefined || bound === inner) {
        this.#known.get(atName)!.name = name;
        this.bind(ep, atName, inner);
        return atName;
      }
      this.#detach(atName);
    }
    const byInner = this.localOf(ep, inner);
    if (byInner !== undefined && byInner !== ALIAS_ROOT_LOCAL) {
      this.#attach(byInner, parent, name);
      return byInner;
    }
    const local = this.#next++;
    this.#known.set(local, { local, parent: 0n, name });
    this.#attach(local, parent, name);
    this.bind(ep, local, inner);
    return local;
  }

  /** A rename done through the alias: the file keeps its id under its new name. */
  moved(opts: { parent: bigint; name: string; newParent: bigint; newName: string }): void {
    const local = this.#children.get(opts.parent)?.get(this.key(opts.name));
    const replaced = this.#children.get(opts.newParent)?.get(this.key(opts.newName));
    if (replaced !== undefined && replaced !== local) this.#detach(replaced);
    if (local !== undefined) this.#attach(local, opts.newParent, opts.newName);
  }

  /** An unlink or rmdir done through the alias. */
  removed(opts: { parent: bigint; name: string }): void {
    const local = this.#children.get(opts.parent)?.get(this.key(opts.name));
    if (local !== undefined) this.#detach(local);
  }

  #attach(local: bigint, parent: bigint, name: string): void {
    this.#detach(local);
    const k = this.#known.get(local)!;
    k.parent = parent;
    k.name = name;
    let kids = this.#children.get(parent);
    if (!kids) {
      kids = new Map();
      this.#children.set(parent, kids);
    }
    kids.set(this.key(name), local);
  }

  #detach(local: bigint): void {
    const k = this.#known.get(local);
    if (!k || k.parent === 0n) return;
    const kids = this.#children.get(k.parent);
    if (kids?.get(this.key(k.name)) === local) kids.delete(this.key(k.name));
    k.parent = 0n;
  }
}
