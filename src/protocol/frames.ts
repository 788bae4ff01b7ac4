import { FsError } from '../core/fs-error.ts';
import { stringifyWire } from './schemas.ts';

/** Largest JSON header of a binary frame accepted (text frames: MAX_TEXT_BYTES). */
export const MAX_HEADER_BYTES = 256 * 1024;
/**
 * Largest text frame: control messages without bytes, the biggest being a READDIRP page of
 * up to 10,000 entries with their attributes (a few MB at most).
 */
export const MAX_TEXT_BYTES = 16 * 1024 * 1024;
/** Largest payload of one binary frame (reads and writes are chunked below this). */
export const MAX_PAYLOAD_BYTES = 16 * 1024 * 1024;
/** Largest whole WebSocket message a peer may send. */
export const MAX_FRAME_BYTES = 4 + MAX_HEADER_BYTES + MAX_PAYLOAD_BYTES;

/** A decoded frame: its JSON message and, for binary frames, the bytes that follow it. */
export interface Frame {
  message: unknown;
  payload: Buffer | undefined;
}

/** A protocol error (malformed, truncated, oversized or out-of-order frame). */
export function protocolError(detail: string): FsError {
  return new FsError({ code: 'EPROTO', op: 'frame', detail });
}

/**
 * Encode a message. Without a payload it is a text frame (plain JSON, easy to read in a
 * capture); with one, a binary frame: u32 big-endian header length, the JSON header, then
 * the raw bytes — file data is never base64.
 */
export function encodeFrame(message: unknown, payload?: Uint8Array): string | Buffer[] {
  const json = stringifyWire(message);
  if (payload === undefined) return json;
  const header = Buffer.from(json, 'utf8');
  const prefix = Buffer.allocUnsafe(4);
  prefix.writeUInt32BE(header.length, 0);
  const body = Buffer.isBuffer(payload)
    ? payload
    : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  return [prefix, header, body];
}

/**
 * Encode a binary frame in place, in front of a payload already sitting in `buf` at
 * `payloadStart` (`payloadLength` bytes): the prefix and JSON header are written just
 * before it and the whole frame is returned as one view of `buf` — no copy of the bytes.
 * Undefined when the header does not fit in the room before the payload.
 */
export function encodeFrameInPlace(
  message: unknown,
  buf: Buffer,
  payloadStart: number,
  payloadLength: number,
): Buffer | undefined {
  const json = stringifyWire(message);
  const headerLength = Buffer.byteLength(json);
  const start = payloadStart - 4 - headerLength;
  if (start < 0) return undefined;
  buf.writeUInt32BE(headerLength, start);
  buf.write(json, start + 4, 'utf8');
  return buf.subarray(start, payloadStart + payloadLength);
}

/** Join an encoded binary frame into one buffer (for transports that need one). */
export function joinFrame(parts: string | Buffer[]): string | Buffer {
  return typeof parts === 'string' ? parts : Buffer.concat(parts);
}

/** Decode one WebSocket message; throws an EPROTO FsError on anything malformed. */
export function decodeFrame(data: Buffer | string, isBinary: boolean): Frame {
  if (!isBinary) {
    // Measured before it is decoded: a received frame is a buffer, its length is known.
    const bytes = typeof data === 'string' ? Buffer.byteLength(data) : data.length;
    if (bytes > MAX_TEXT_BYTES) throw tooLarge('text frame', bytes, MAX_TEXT_BYTES);
    return {
      message: parseJson(typeof data === 'string' ? data : data.toString('utf8')),
      payload: undefined,
    };
  }
  const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  if (buf.length < 4) throw protocolError('binary frame shorter than its length prefix');
  if (buf.length > MAX_FRAME_BYTES) throw tooLarge('binary frame', buf.length, MAX_FRAME_BYTES);
  const headerLength = buf.readUInt32BE(0);
  if (headerLength === 0 || headerLength > MAX_HEADER_BYTES)
    throw protocolError(`bad header length ${headerLength} (expected 1 to ${MAX_HEADER_BYTES})`);
  if (4 + headerLength > buf.length)
    throw protocolError(
      `binary frame of ${buf.length} bytes truncated inside its ${headerLength}-byte header`,
    );
  const message = parseJson(buf.toString('utf8', 4, 4 + headerLength));
  const payload = buf.subarray(4 + headerLength);
  if (payload.length > MAX_PAYLOAD_BYTES) throw tooLarge('payload', payload.length, MAX_PAYLOAD_BYTES);
  return { message, payload };
}

/**
 * Decode a binary frame that arrived as WebSocket fragments. The usual sender puts the prefix
 * and header in one fragment and the bytes in the next: then the payload is that fragment
 * as is, with no copy to join them. Any other split is joined first.
 */
export function decodeFrameParts(parts: readonly Buffer[]): Frame {
  const head = parts[0];
  if (
    parts.length === 2 &&
    head !== undefined &&
    head.length >= 4 &&
    head.length === 4 + head.readUInt32BE(0)
  ) {
    const payload = parts[1]!;
    const bytes = head.length + payload.length;
    if (bytes > MAX_FRAME_BYTES) throw tooLarge('binary frame', bytes, MAX_FRAME_BYTES);
    const { message } = decodeFrame(head, true);
    if (payload.length > MAX_PAYLOAD_BYTES) throw tooLarge('payload', payload.length, MAX_PAYLOAD_BYTES);
    return { message, payload };
  }
  return decodeFrame(parts.length === 1 && head !== undefined ? head : Buffer.concat(parts), true);
}

function tooLarge(what: string, bytes: number, limit: number): FsError {
  return protocolError(`${what} of ${bytes} bytes, above the limit of ${limit}`);
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw protocolError('frame is not valid JSON');
  }
}
