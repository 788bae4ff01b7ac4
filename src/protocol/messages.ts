import { z } from 'zod';
import { FsError, type FsErrorJSON } from '../core/fs-error.ts';
import {
  decodeFrame,
  decodeFrameParts,
  encodeFrame,
  encodeFrameInPlace,
  type Frame,
  protocolError,
} from './frames.ts';
import { isOpName, type OpArgs, type OpName, type OpResult, OPS } from './ops.ts';
import { decodeListingFast } from './listing-decode.ts';

const requestId = z.number().int().min(1).max(0xffff_ffff);

const requestEnvelope = z.strictObject({
  t: z.literal('req'),
  id: requestId,
  op: z.string().max(32),
  a: z.unknown(),
});
const cancelEnvelope = z.strictObject({ t: z.literal('cancel'), id: requestId });
const byeEnvelope = z.strictObject({ t: z.literal('bye'), reason: z.string().max(1024) });
const responseEnvelope = z.union([
  z.strictObject({ t: z.literal('res'), id: requestId, ok: z.literal(true), r: z.unknown() }),
  z.strictObject({ t: z.literal('res'), id: requestId, ok: z.literal(false), err: z.unknown() }),
]);
const errorEnvelope = z.strictObject({ t: z.literal('error'), err: z.unknown() });
const pushEnvelope = z.looseObject({ t: z.literal('push'), ev: z.string().max(32) });

/** A decoded request, ready to dispatch. */
export type Request = {
  [K in OpName]: { id: number; op: K; args: OpArgs<K>; payload: Buffer | undefined };
}[OpName];

/** What the server can receive. */
export type ClientMessage =
  { t: 'req'; req: Request } | { t: 'cancel'; id: number } | { t: 'bye'; reason: string };

/** What the client can receive. */
export type ServerMessage =
  | { t: 'res'; id: number; ok: true; r: unknown; payload: Buffer | undefined }
  | { t: 'res'; id: number; ok: false; err: FsError }
  | { t: 'error'; err: FsError }
  | { t: 'push'; ev: string; body: Record<string, unknown> }
  | { t: 'bye'; reason: string };

/**
 * A request that failed validation but whose id is known: the server answers that request
 * with the error instead of dropping the session.
 */
export class BadRequest extends Error {
  constructor(
    readonly id: number,
    readonly error: FsError,
  ) {
    super(error.message);
  }
}

function issueText(err: z.ZodError): string {
  const issue = err.issues[0];
  return issue ? `${issue.path.join('.') || '(root)'}: ${issue.message}` : 'invalid';
}

/** Decode a frame received whole or as the fragments of one message. */
function decodeAny(data: Buffer | string | readonly Buffer[], isBinary: boolean): Frame {
  if (!Array.isArray(data)) return decodeFrame(data as Buffer | string, isBinary);
  return isBinary ? decodeFrameParts(data) : decodeFrame(Buffer.concat(data), false);
}

/**
 * Decode and validate a frame from a client. Throws an EPROTO `FsError` when the frame is
 * malformed beyond recognition, or a `BadRequest` when the request's id is known.
 */
export function decodeClientMessage(
  data: Buffer | string | readonly Buffer[],
  isBinary: boolean,
): ClientMessage {
  const { message, payload } = decodeAny(data, isBinary);
  const t = (message as { t?: unknown } | null)?.t;
  if (t === 'cancel' || t === 'bye') {
    if (payload !== undefined) throw protocolError(`'${t}' carries no payload`);
    if (t === 'cancel') {
      const c = cancelEnvelope.safeParse(message);
      if (!c.success) throw protocolError(`bad cancel: ${issueText(c.error)}`);
      return { t: 'cancel', id: c.data.id };
    }
    const b = byeEnvelope.safeParse(message);
    if (!b.success) throw protocolError(`bad bye: ${issueText(b.error)}`);
    return { t: 'bye', reason: b.data.reason };
  }
  const env = requestEnvelope.safeParse(message);
  if (!env.success) throw protocolError(`bad request envelope: ${issueText(env.error)}`);
  const { id, op, a } = env.data;
  const fail = (detail: string) =>
    new BadRequest(id, new FsError({ code: 'EPROTO', op: String(op), detail }));
  if (!isOpName(op)) throw fail(`unknown op '${op}'`);
  const spec = OPS[op];
  if (spec.payload === 'request' && payload === undefined) throw fail(`${op} needs a binary payload`);
  if (spec.payload !== 'request' && spec.payload !== 'optional-request' && payload !== undefined)
    throw fail(`${op} carries no payload`);
  const args = spec.args.safeParse(a);
  if (!args.success) throw fail(`bad ${op} arguments: ${issueText(args.error)}`);
  if (spec.payload === 'optional-request') {
    const placed = (args.data as { offset?: unknown }).offset !== undefined;
    if (placed && payload === undefined) throw fail(`${op} has an offset but no bytes to write there`);
    if (!placed && payload !== undefined) throw fail(`${op} carries bytes but no offset for them`);
  }
  return { t: 'req', req: { id, op, args: args.data, payload } as Request };
}

/** Decode and validate a frame from a server (the client validates too). */
export function decodeServerMessage(
  data: Buffer | string | readonly Buffer[],
  isBinary: boolean,
): ServerMessage {
  const { message, payload } = decodeAny(data, isBinary);
  const t = (message as { t?: unknown } | null)?.t;
  if (t === 'res') {
    const env = responseEnvelope.safeParse(message);
    if (!env.success) throw protocolError(`bad response: ${issueText(env.error)}`);
    if (env.data.ok) return { t: 'res', id: env.data.id, ok: true, r: env.data.r, payload };
    return { t: 'res', id: env.data.id, ok: false, err: FsError.fromJSON(env.data.err) };
  }
  if (payload !== undefined) throw protocolError(`'${String(t)}' carries no payload`);
  if (t === 'error') {
    const env = errorEnvelope.safeParse(message);
    if (!env.success) throw protocolError(`bad error frame: ${issueText(env.error)}`);
    return { t: 'error', err: FsError.fromJSON(env.data.err) };
  }
  if (t === 'push') {
    const env = pushEnvelope.safeParse(message);
    if (!env.success) throw protocolError(`bad push: ${issueText(env.error)}`);
    return { t: 'push', ev: env.data.ev, body: env.data };
  }
  if (t === 'bye') {
    const env = byeEnvelope.safeParse(message);
    if (!env.success) throw protocolError(`bad bye: ${issueText(env.error)}`);
    return { t: 'bye', reason: env.data.reason };
  }
  throw protocolError(`unknown frame type '${String(t)}'`);
}

/** Validate a successful result of `op` (on the client). */
export function decodeResult<K extends OpName>(op: K, r: unknown): OpResult<K> {
  if (op === 'READDIRP') {
    const page = decodeListingFast(r);
    if (page !== undefined) return page as OpResult<K>;
  }
  const parsed = OPS[op].result.safeParse(r);
  if (!parsed.success) throw protocolError(`bad ${op} result: ${issueText(parsed.error)}`);
  return parsed.data as OpResult<K>;
}

/** Encode a request (typed args; bigints become strings). */
export function encodeRequest(opts: {
  id: number;
  op: OpName;
  args: unknown;
  payload?: Uint8Array;
}): string | Buffer[] {
  return encodeFrame({ t: 'req', id: opts.id, op: opts.op, a: opts.args }, opts.payload);
}

/** Encode a successful response. */
export function encodeResult(opts: { id: number; result: unknown; payload?: Uint8Array }): string | Buffer[] {
  return encodeFrame({ t: 'res', id: opts.id, ok: true, r: opts.result }, opts.payload);
}

/**
 * Encode a successful response whose payload already sits in `buf` at `payloadStart`, as
 * one buffer (see `encodeFrameInPlace`); undefined when the header does not fit before it.
 */
export function encodeResultInPlace(opts: {
  id: number;
  result: unknown;
  buf: Buffer;
  payloadStart: number;
  payloadLength: number;
}): Buffer | undefined {
  return encodeFrameInPlace(
    { t: 'res', id: opts.id, ok: true, r: opts.result },
    opts.buf,
    opts.payloadStart,
    opts.payloadLength,
  );
}

/** Encode a failed response. */
export function encodeFailure(opts: { id: number; error: FsError }): string {
  const err: FsErrorJSON = opts.error.toJSON();
  return encodeFrame({ t: 'res', id: opts.id, ok: false, err }) as string;
}

/** Encode a protocol error not tied to a request. */
export function encodeProtocolError(error: FsError): string {
  return encodeFrame({ t: 'error', err: error.toJSON() }) as string;
}

/** Encode a server push. */
export function encodePush(body: { ev: string } & Record<string, unknown>): string {
  return encodeFrame({ t: 'push', ...body }) as string;
}

/** Encode a graceful goodbye. */
export function encodeBye(reason: string): string {
  return encodeFrame({ t: 'bye', reason }) as string;
}

/** Encode a cancellation of an in-flight request (WAIT, lock waits). */
export function encodeCancel(id: number): string {
  return encodeFrame({ t: 'cancel', id }) as string;
}
