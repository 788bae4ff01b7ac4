/** Bytes that differ everywhere, so a misplaced or mis-masked byte shows. */
export function pattern(size: number, seed = 1): Buffer {
  const buf = Buffer.alloc(size);
  for (let i = 0; i < size; i++) buf[i] = (i * 131 + seed * 7 + (i >> 8)) & 0xff;
  return buf;
}

/** A Tessera-style binary message: u32 N · N header bytes · payload. */
export function tesseraFrame(header: object, payload: Buffer): Buffer {
  const json = Buffer.from(JSON.stringify(header));
  const prefix = Buffer.alloc(4);
  prefix.writeUInt32BE(json.length, 0);
  return Buffer.concat([prefix, json, payload]);
}
