import { FsError } from '../core/fs-error.ts';

/**
 * The protocol version this build speaks natively. v2 adds optional fields a client sends
 * only in a session that negotiated v2 (see docs/protocol.md, "Versioning").
 */
export const PROTOCOL_VERSION = 2;
/**
 * The version each optional wire field first appeared in: a client sends it only in a session
 * that negotiated at least that version (an older node's strict schemas would refuse it).
 */
export const SINCE = {
  /** CLOSE carries the handle's last write (`offset` and a payload). */
  closeWrite: 2,
  /** LOCK's `kind` (flock and POSIX lock spaces). */
  lockKind: 2,
} as const;

/** Oldest version still accepted: the compatibility window is N-1. */
export const MIN_PROTOCOL_VERSION = Math.max(1, PROTOCOL_VERSION - 1);

/** A supported version range, inclusive. */
export interface VersionRange {
  min: number;
  max: number;
}

/** This build's range. */
export const OUR_VERSIONS: VersionRange = { min: MIN_PROTOCOL_VERSION, max: PROTOCOL_VERSION };

/**
 * Pick the highest version both sides support, or fail with EPROTO saying both ranges (so
 * the operator knows which side to upgrade).
 */
export function negotiateVersion(opts: { client: VersionRange; server?: VersionRange }): number {
  const server = opts.server ?? OUR_VERSIONS;
  const { client } = opts;
  if (client.min > client.max) {
    throw new FsError({
      code: 'EPROTO',
      op: 'HELLO',
      detail: `bad version range ${client.min}–${client.max}`,
    });
  }
  const high = Math.min(client.max, server.max);
  const low = Math.max(client.min, server.min);
  if (high < low) {
    throw new FsError({
      code: 'EPROTO',
      op: 'HELLO',
      detail: `no common protocol version: client speaks ${client.min}–${client.max}, server ${server.min}–${server.max}`,
    });
  }
  return high;
}
