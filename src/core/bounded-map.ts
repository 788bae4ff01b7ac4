/**
 * A `Map` that holds at most `max` entries: setting a key makes it the newest, and once the
 * map is over `max` the oldest-set entry is dropped. For caches and tables fed by clients
 * (digests, recent failures per address, tokens), which must not grow without bound.
 * Reading does not refresh an entry.
 */
export class BoundedMap<K, V> extends Map<K, V> {
  readonly max: number;

  constructor(opts: { max: number }) {
    super();
    this.max = opts.max;
  }

  override set(key: K, value: V): this {
    // Delete first: a Map keeps a re-set key at its old place in the order.
    super.delete(key);
    super.set(key, value);
    if (this.size > this.max) {
      const oldest = this.keys().next();
      if (oldest.done !== true) super.delete(oldest.value);
    }
    return this;
  }
}
