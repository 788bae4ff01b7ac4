import type { SearchPage, SearchQuery } from '../../catalog/search.ts';
import type { CatalogStore } from '../../catalog/store.ts';
import type { VirtualDirectories } from '../../catalog/vfs/virtual-directories.ts';
import type { MountRequest, NodeStatus } from '../../core/http-surface.ts';
import type { Logger } from '../../core/log.ts';
import type { Grant } from '../../namespace/authorization.ts';
import type { AuthorizedSource } from '../../namespace/authorized-source.ts';

/** A remote mount as the node reports it. */
export interface MountReport {
  path: string;
  alias: string;
  export: string;
  ro: boolean;
  state: string;
  error?: string | undefined;
}

/**
 * What the REST API needs from the node that serves it (the node's `SurfaceHost` provides
 * it; declared here because front-ends may not import the node).
 */
export interface ApiHost {
  readonly nodeId: string;
  readonly nodeName: string;
  readonly logger: Logger;
  /** The grant of a credential's key id and secret, or `EKEYREJECTED` (audited, throttled). */
  authenticate(opts: { id: string; secret: string; address: string; surface: string }): Promise<Grant>;
  /** The current grant of a credential; undefined once it is disabled or removed. */
  grantOf(credentialId: string): Promise<Grant | undefined>;
  /** The namespace as `grant` may see and change it. */
  view(grant: Grant): AuthorizedSource;
  status(): NodeStatus;
  /** The node's metrics in the Prometheus text exposition format. */
  metricsText(): string;
  /** Whether a credential is the node's owner credential (the one allowed to change mounts). */
  isOwner(credentialId: string): Promise<boolean>;
  /** Remote mounts and their state (never a credential). */
  mounts(): MountReport[];
  /** Record a remote mount and mount it now; its state afterwards. */
  addMount(opts: MountRequest): Promise<MountReport | undefined>;
  /** Remove a remote mount (`ENOENT` if none). */
  removeMount(opts: { path: string }): Promise<void>;
  /** The catalog (search; labels and rules in its store); undefined when it is off. */
  readonly catalog: { search(query: SearchQuery): SearchPage; readonly store: CatalogStore } | undefined;
  /** Virtual directories; undefined without the catalog or with `[catalog] vfs = ""`. */
  readonly vfs: VirtualDirectories | undefined;
  readonly metrics: {
    /** Count one answered HTTP request. */
    observeHttp(opts: { surface: string; route: string; status: number; seconds: number }): void;
  };
}
