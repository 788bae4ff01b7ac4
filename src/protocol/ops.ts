import { z } from 'zod';
import {
  attrSchema,
  dirEntrySchema,
  entrySchema,
  exportInfoSchema,
  invalidationSchema,
  lockInfoSchema,
  openFlagsSchema,
  statfsSchema,
  wireCookie,
  wireHandle,
  wireId,
  wireLength,
  wireName,
  wireNs,
  wireOffset,
} from './schemas.ts';
import { SEAL_TICKET_PATTERN } from './sealed-messages.ts';

/**
 * Where an op's bytes travel, if it has any. With `optional-request` the request may carry
 * bytes, and then (only then) an `offset` argument says where they go.
 */
export type PayloadDir = 'none' | 'request' | 'optional-request' | 'response';

interface OpSpec<A extends z.ZodType, R extends z.ZodType> {
  args: A;
  result: R;
  payload: PayloadDir;
}

function op<A extends z.ZodType, R extends z.ZodType>(spec: OpSpec<A, R>): OpSpec<A, R> {
  return spec;
}

const empty = z.strictObject({});
const versionRange = z.strictObject({
  min: z.number().int().min(1).max(1000),
  max: z.number().int().min(1).max(1000),
});

/** Client authentication in HELLO: SCRAM-style over an argon2id-derived key. */
export const helloAuthSchema = z.strictObject({
  method: z.literal('scram-argon2id'),
  key_id: z.string().min(1).max(128),
  client_nonce: z.string().regex(/^[A-Za-z0-9_-]{16,128}$/),
});

/**
 * Every op of the protocol (fields added in a later version say so): arguments, result and payload direction (the credential
 * capability each op needs is enforced in `namespace/authorization.ts` and listed in
 * docs/protocol.md). Argument and result shapes are the Source request objects with ids
 * and nanosecond times as decimal strings.
 */
export const OPS = {
  HELLO: op({
    args: z.strictObject({
      versions: versionRange,
      caps: z.record(z.string().max(64), z.boolean()).optional(),
      client: z.string().max(256).optional(),
      auth: helloAuthSchema,
    }),
    result: z.strictObject({
      version: z.number().int(),
      node_id: z.string().max(128),
      node_name: z.string().max(256),
      salt: z.string().max(256),
      argon2: z.strictObject({ m: z.number().int(), t: z.number().int(), p: z.number().int() }),
      server_nonce: z.string().max(256),
      /**
       * The node offers sealed connections (SEAL) to this session; only in answer to a client
       * whose HELLO `caps` asked with `sealed: true` (an older client's strict schema would refuse it).
       */
      sealed: z.boolean().optional(),
    }),
    payload: 'none',
  }),
  AUTH: op({
    args: z.strictObject({ proof: z.string().max(256) }),
    result: z.strictObject({
      session_id: z.string().max(128),
      server_signature: z.string().max(256),
      principal: z.string().max(256),
      caps: z.record(z.string().max(64), z.boolean()),
    }),
    payload: 'none',
  }),
  /** A ticket for a sealed connection bound to this (TLS) session; see docs/protocol.md. */
  SEAL: op({
    args: empty,
    result: z.strictObject({ ticket: z.string().regex(SEAL_TICKET_PATTERN) }),
    payload: 'none',
  }),
  /** The first op on a sealed connection: the session its ticket grants starts. */
  RESUME: op({
    args: z.strictObject({ versions: versionRange, client: z.string().max(256).optional() }),
    result: z.strictObject({
      version: z.number().int(),
      node_id: z.string().max(128),
      node_name: z.string().max(256),
      session_id: z.string().max(128),
      principal: z.string().max(256),
      caps: z.record(z.string().max(64), z.boolean()),
    }),
    payload: 'none',
  }),
  PING: op({ args: empty, result: z.strictObject({ timeMs: z.number() }), payload: 'none' }),
  EXPORTS: op({
    args: empty,
    result: z.strictObject({ exports: z.array(exportInfoSchema).max(65536) }),
    payload: 'none',
  }),
  LOOKUP: op({
    args: z.strictObject({ parent: wireId, name: wireName }),
    result: entrySchema,
    payload: 'none',
  }),
  GETATTR: op({ args: z.strictObject({ id: wireId }), result: attrSchema, payload: 'none' }),
  SETATTR: op({
    args: z.strictObject({
      id: wireId,
      handle: wireHandle.optional(),
      mode: z.number().int().min(0).max(0o7777).optional(),
      uid: z.number().int().min(0).optional(),
      gid: z.number().int().min(0).optional(),
      size: wireOffset.optional(),
      atimeNs: wireNs.optional(),
      mtimeNs: wireNs.optional(),
    }),
    result: attrSchema,
    payload: 'none',
  }),
  READDIRP: op({
    args: z.strictObject({ dir: wireId, cookie: wireCookie, max: z.number().int().min(1).max(100_000) }),
    result: z.strictObject({
      entries: z.array(dirEntrySchema).max(100_000),
      cookie: wireCookie,
      eof: z.boolean(),
    }),
    payload: 'none',
  }),
  OPEN: op({
    args: z.strictObject({ id: wireId, flags: openFlagsSchema }),
    result: z.strictObject({ handle: wireHandle }),
    payload: 'none',
  }),
  READ: op({
    args: z.strictObject({ handle: wireHandle, offset: wireOffset, length: wireLength }),
    result: empty,
    payload: 'response',
  }),
  WRITE: op({
    args: z.strictObject({ handle: wireHandle, offset: wireOffset }),
    result: z.strictObject({ written: wireOffset }),
    payload: 'request',
  }),
  FLUSH: op({ args: z.strictObject({ handle: wireHandle }), result: empty, payload: 'none' }),
  CLOSE: op({
    args: z.strictObject({
      handle: wireHandle,
      abort: z.boolean().optional(),
      // v2: the handle's last write travels with its close (the bytes are the payload).
      offset: wireOffset.optional(),
    }),
    result: empty,
    payload: 'optional-request',
  }),
  CREATE: op({
    args: z.strictObject({
      parent: wireId,
      name: wireName,
      mode: z.number().int().min(0).max(0o7777),
      exclusive: z.boolean().optional(),
      flags: openFlagsSchema.optional(),
    }),
    result: z.strictObject({ id: wireId, attr: attrSchema, handle: wireHandle }),
    payload: 'none',
  }),
  MKDIR: op({
    args: z.strictObject({ parent: wireId, name: wireName, mode: z.number().int().min(0).max(0o7777) }),
    result: entrySchema,
    payload: 'none',
  }),
  UNLINK: op({
    args: z.strictObject({ parent: wireId, name: wireName }),
    result: empty,
    payload: 'none',
  }),
  RMDIR: op({
    args: z.strictObject({ parent: wireId, name: wireName }),
    result: empty,
    payload: 'none',
  }),
  RENAME: op({
    args: z.strictObject({
      parent: wireId,
      name: wireName,
      newParent: wireId,
      newName: wireName,
      noreplace: z.boolean().optional(),
    }),
    result: empty,
    payload: 'none',
  }),
  SYMLINK: op({
    args: z.strictObject({ parent: wireId, name: wireName, target: z.string().max(4096) }),
    result: entrySchema,
    payload: 'none',
  }),
  READLINK: op({
    args: z.strictObject({ id: wireId }),
    result: z.strictObject({ target: z.string().max(4096) }),
    payload: 'none',
  }),
  LINK: op({
    args: z.strictObject({ id: wireId, newParent: wireId, newName: wireName }),
    result: entrySchema,
    payload: 'none',
  }),
  GETXATTR: op({
    args: z.strictObject({ id: wireId, name: wireName }),
    result: empty,
    payload: 'response',
  }),
  SETXATTR: op({
    args: z.strictObject({ id: wireId, name: wireName, mode: z.enum(['create', 'replace']).optional() }),
    result: empty,
    payload: 'request',
  }),
  LISTXATTR: op({
    args: z.strictObject({ id: wireId }),
    result: z.strictObject({ names: z.array(z.string().max(4096)).max(65536) }),
    payload: 'none',
  }),
  REMOVEXATTR: op({
    args: z.strictObject({ id: wireId, name: wireName }),
    result: empty,
    payload: 'none',
  }),
  LOCK: op({
    args: z.strictObject({
      handle: wireHandle,
      cmd: z.enum(['test', 'set', 'wait']),
      type: z.enum(['read', 'write', 'unlock']),
      start: wireOffset,
      length: wireOffset,
      owner: z.string().max(256).optional(),
      /** Protocol v2: the lock space (`flock`: whole-file, apart from `posix` locks). */
      kind: z.enum(['posix', 'flock']).optional(),
    }),
    result: z.strictObject({ conflict: lockInfoSchema.nullable() }),
    payload: 'none',
  }),
  STATFS: op({ args: z.strictObject({ id: wireId }), result: statfsSchema, payload: 'none' }),
  HASH: op({
    args: z.strictObject({
      id: wireId,
      algo: z.enum(['sha256']).optional(),
      /** A byte range instead of the whole file (a block cache verifies each fill this way). */
      offset: wireOffset.optional(),
      length: wireOffset.optional(),
    }),
    result: z.strictObject({
      algo: z.literal('sha256'),
      hex: z.string().regex(/^[0-9a-f]{64}$/),
      size: wireOffset,
    }),
    payload: 'none',
  }),
  SUBSCRIBE: op({
    args: empty,
    result: z.strictObject({ sub: z.number().int().min(1) }),
    payload: 'none',
  }),
  UNSUBSCRIBE: op({
    args: z.strictObject({ sub: z.number().int().min(1) }),
    result: empty,
    payload: 'none',
  }),
  WAIT: op({
    args: z.strictObject({ id: wireId, timeoutMs: z.number().int().min(0).max(3_600_000) }),
    result: z.strictObject({ changed: z.boolean(), events: z.array(invalidationSchema).max(10_000) }),
    payload: 'none',
  }),
  TAKE: op({
    args: z.strictObject({ dir: wireId, timeoutMs: z.number().int().min(0).max(3_600_000).optional() }),
    result: z.strictObject({ name: wireName, size: wireOffset }),
    payload: 'response',
  }),
} as const;

/** An op name of the protocol. */
export type OpName = keyof typeof OPS;
/** Typed (decoded) arguments of an op. */
export type OpArgs<K extends OpName> = z.output<(typeof OPS)[K]['args']>;
/** Typed (decoded) result of an op. */
export type OpResult<K extends OpName> = z.output<(typeof OPS)[K]['result']>;

/** Whether `name` is an op of the protocol. */
export function isOpName(name: unknown): name is OpName {
  return typeof name === 'string' && Object.hasOwn(OPS, name);
}

/** Server push of invalidations for a subscription. */
export const invalidatePushSchema = z.strictObject({
  t: z.literal('push'),
  ev: z.literal('INVALIDATE'),
  sub: z.number().int().min(1),
  events: z.array(invalidationSchema).max(100_000),
});
