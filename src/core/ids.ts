/**
 * 64-bit node ids. An id is scoped to one export: the top 16 bits carry the export index
 * `k`, the low 48 bits the file within it. The root of export `k` is `(k << 48) | 1`.
 * Ids travel on the wire as decimal strings.
 */
export type NodeId = bigint;

/** Bits of an id that belong to the file within its export. */
export const LOCAL_BITS = 48n;
/** Largest local part of an id. */
export const LOCAL_MASK = (1n << LOCAL_BITS) - 1n;
/** Largest export index. */
export const MAX_EXPORT_INDEX = 0xffff;

/** Compose an id from an export index and a local part (1 is the export root). */
export function makeId(exportIndex: number, local: bigint): NodeId {
  if (!Number.isInteger(exportIndex) || exportIndex < 0 || exportIndex > MAX_EXPORT_INDEX) {
    throw new RangeError(`export index out of range: ${exportIndex}`);
  }
  if (local <= 0n || local > LOCAL_MASK) throw new RangeError(`local id out of range: ${local}`);
  return (BigInt(exportIndex) << LOCAL_BITS) | local;
}

/** The root id of export `k`. */
export function rootId(exportIndex: number): NodeId {
  return makeId(exportIndex, 1n);
}

/** The export index carried in an id. */
export function exportIndexOf(id: NodeId): number {
  return Number(id >> LOCAL_BITS);
}

/** The local part of an id. */
export function localPartOf(id: NodeId): bigint {
  return id & LOCAL_MASK;
}

/** Parse a decimal id string from the wire or a CLI argument; undefined when malformed. */
export function parseNodeId(text: string): NodeId | undefined {
  if (!/^[0-9]{1,20}$/.test(text)) return undefined;
  const id = BigInt(text);
  return id > 0n && id < 1n << 64n ? id : undefined;
}
