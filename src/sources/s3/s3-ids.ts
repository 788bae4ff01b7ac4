import { createHash } from 'node:crypto';
import { LOCAL_MASK } from '../../core/ids.ts';

/** Hash of a relative key to a 48-bit local id candidate (attempt 0 is the plain key). */
export type KeyHash = (rel: string, attempt: number) => bigint;

/** sha256 of the key (with the probe number for attempts after the first), first 48 bits. */
export const sha256KeyHash: KeyHash = (rel, attempt) => {
  const h = createHash('sha256');
  if (attempt > 0) h.update(`${attempt}\0`);
  h.update(rel, 'utf8');
  return BigInt('0x' + h.digest('hex').slice(0, 12)) & LOCAL_MASK;
};

/**
 * Local ids derived from keys, so the same key gets the same id in every process with no
 * persisted state. Keys are relative to the export prefix; directories end with '/', which
 * keeps file `a` and directory `a/` apart. Local id 1 is the root, so 0 and 1 are never
 * handed out. Two keys whose hashes collide are told apart by probing (rehash with an
 * attempt number) in the order they are first seen: the first keeps the plain hash.
 */
export class IdMap {
  readonly #byId = new Map<bigint, string>();
  readonly #byRel = new Map<string, bigint>();
  readonly #hash: KeyHash;

  constructor(opts: { hash?: KeyHash } = {}) {
    this.#hash = opts.hash ?? sha256KeyHash;
  }

  /** The local id of a relative key, registering it if new. */
  idFor(rel: string): bigint {
    const known = this.#byRel.get(rel);
    if (known !== undefined) return known;
    for (let attempt = 0; ; attempt++) {
      if (attempt > 10_000) throw new Error(`no free id for key '${rel}'`);
      const candidate = this.#hash(rel, attempt);
      if (candidate <= 1n) continue;
      const holder = this.#byId.get(candidate);
      if (holder === undefined) {
        this.#byId.set(candidate, rel);
        this.#byRel.set(rel, candidate);
        return candidate;
      }
      if (holder === rel) return candidate;
    }
  }

  /** The relative key of a local id seen in this process, if any. */
  relOf(local: bigint): string | undefined {
    return this.#byId.get(local);
  }

  /** Number of keys known. */
  get size(): number {
    return this.#byRel.size;
  }
}
