/** A half-open byte range `[start, end)`. */
export interface Range {
  start: number;
  end: number;
}

/**
 * The byte ranges of a file present in a block-mode cache entry: sorted, disjoint and never
 * touching (adjacent or overlapping ranges are merged on insert), so presence is a binary
 * search and the number of ranges is the entry's fragmentation.
 */
export class IntervalMap {
  #ranges: Range[];

  constructor(ranges: readonly Range[] = []) {
    this.#ranges = [];
    for (const r of ranges) this.add(r);
  }

  /** The present ranges, in order. */
  get ranges(): readonly Range[] {
    return this.#ranges;
  }

  /** Number of disjoint ranges. */
  get count(): number {
    return this.#ranges.length;
  }

  /** Bytes present. */
  get bytes(): number {
    let n = 0;
    for (const r of this.#ranges) n += r.end - r.start;
    return n;
  }

  /** Index of the first range whose end is after `pos` (binary search). */
  #firstEndingAfter(pos: number): number {
    let lo = 0;
    let hi = this.#ranges.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#ranges[mid]!.end <= pos) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Whether every byte of `[start, end)` is present. */
  covers(start: number, end: number): boolean {
    if (end <= start) return true;
    const r = this.#ranges[this.#firstEndingAfter(start)];
    return r !== undefined && r.start <= start && r.end >= end;
  }

  /** The sub-ranges of `[start, end)` that are not present, in order. */
  missing(start: number, end: number): Range[] {
    const out: Range[] = [];
    let pos = start;
    for (let i = this.#firstEndingAfter(start); i < this.#ranges.length && pos < end; i++) {
      const r = this.#ranges[i]!;
      if (r.start >= end) break;
      if (r.start > pos) out.push({ start: pos, end: r.start });
      pos = Math.max(pos, r.end);
    }
    if (pos < end) out.push({ start: pos, end });
    return out;
  }

  /**
   * Mark `[start, end)` present, merging with every range it overlaps or touches; returns
   * how many bytes were not present before.
   */
  add(range: Range): number {
    let { start, end } = range;
    if (end <= start) return 0;
    // Ranges that end at or after `start` and begin at or before `end` merge with it.
    const i = this.#firstEndingAfter(start - 1);
    let j = i;
    let had = 0;
    while (j < this.#ranges.length && this.#ranges[j]!.start <= end) {
      const r = this.#ranges[j]!;
      start = Math.min(start, r.start);
      end = Math.max(end, r.end);
      had += r.end - r.start;
      j++;
    }
    this.#ranges.splice(i, j - i, { start, end });
    return end - start - had;
  }

  /** The gaps between present ranges inside `[0, size)`, smallest first. */
  gapsBySize(size: number): Range[] {
    return this.missing(0, size).sort((a, b) => a.end - a.start - (b.end - b.start) || a.start - b.start);
  }

  /** Serialized form for the index: pairs of little-endian float64 (exact up to 2^53). */
  toBlob(): Buffer {
    const buf = Buffer.alloc(this.#ranges.length * 16);
    this.#ranges.forEach((r, k) => {
      buf.writeDoubleLE(r.start, k * 16);
      buf.writeDoubleLE(r.end, k * 16 + 8);
    });
    return buf;
  }

  /** The map a {@link toBlob} blob describes; undefined when the blob is malformed. */
  static fromBlob(blob: Uint8Array): IntervalMap | undefined {
    if (blob.byteLength % 16 !== 0) return undefined;
    const buf = Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength);
    const ranges: Range[] = [];
    for (let off = 0; off < buf.byteLength; off += 16) {
      const start = buf.readDoubleLE(off);
      const end = buf.readDoubleLE(off + 8);
      if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end <= start) {
        return undefined;
      }
      const prev = ranges.at(-1);
      if (prev !== undefined && start <= prev.end) return undefined;
      ranges.push({ start, end });
    }
    return new IntervalMap(ranges);
  }
}
