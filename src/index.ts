/**
 * Tessera as a library: the error model, the Source contract and its adapters, a node's
 * home and configuration, and the node itself (`createNode` serves a home's namespace).
 */
import { defaultSurfaces } from './frontends/default-surfaces.ts';
import { type CreateNodeOptions, createNode as createNodeCore, type TesseraNode } from './node/node.ts';

export { FsError, type FsErrorJSON } from './core/fs-error.ts';
export {
  ERRNO,
  ERRNO_ALIASES,
  errnoNameOf,
  exitCodeOf,
  fuseCodeOf,
  httpStatusOf,
  isErrnoName,
  type ErrnoEntry,
  type ErrnoName,
} from './core/errno.ts';
export { exportIndexOf, localPartOf, makeId, parseNodeId, rootId, type NodeId } from './core/ids.ts';
export type { Attr, FileKind } from './core/attr.ts';
export {
  CONFIG_FILE_NAME,
  DEFAULT_LISTEN,
  EXPORT_KINDS,
  configSchema,
  loadConfig,
  parseConfigText,
  type ExportEntry,
  type ExportKind,
  type IndexedExportEntry,
  type TesseraConfig,
} from './core/config.ts';
export {
  addExport,
  homePaths,
  initHome,
  openHome,
  removeExport,
  resolveHome,
  type Home,
  type HomeConfig,
  type HomePaths,
} from './core/home.ts';
export { loadIdentity, type NodeIdentity } from './core/identity.ts';
export { createLogger, Logger, type LogFields, type LogLevel, type LogSink } from './core/log.ts';
export {
  SOURCE_OPS,
  type Caps,
  type DirEntry,
  type Entry,
  type ExportInfo,
  type Invalidation,
} from './sources/source.ts';
export type {
  Handle,
  InvalidationListener,
  LockInfo,
  LockType,
  OpenFlags,
  Source,
  SourceOp,
  StatFs,
} from './sources/source.ts';
export {
  createSource,
  isSourceKind,
  SOURCE_KINDS,
  type SourceKind,
  type SourceSpec,
} from './sources/registry.ts';
export { ExportRegistry, probeExport, sourceSpecOf } from './node/export-registry.ts';
export { type CreateNodeOptions, type SurfaceHost, type TesseraNode } from './node/node.ts';
export { defaultSurfaces } from './frontends/default-surfaces.ts';
export { createApiSurface, type ApiSurface, type ApiSurfaceOptions } from './frontends/http/api-surface.ts';
export type { HttpSurface, NodeStatus } from './core/http-surface.ts';
export {
  createCredential,
  disableCredential,
  ensureOwnerCredential,
  listCredentials,
  readOwnerCredential,
  removeCredential,
  type CredentialCaps,
  type CredentialInfo,
  type OwnerCredential,
} from './node/credentials.ts';
export { readRuntime, type RuntimeInfo } from './node/runtime.ts';

/**
 * Start a node serving its home's namespace over the protocol and the default HTTP surfaces
 * (the REST API…), unless `surfaces` says otherwise. See the node's `createNode`.
 */
export function createNode(opts: CreateNodeOptions): Promise<TesseraNode> {
  return createNodeCore({ ...opts, surfaces: opts.surfaces ?? defaultSurfaces });
}
