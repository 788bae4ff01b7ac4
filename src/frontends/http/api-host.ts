import type { NodeStatus } from '../../core/http-surface.ts';
import type { Logger } from '../../core/log.ts';
import type { Grant } from '../../namespace/authorization.ts';
import type { AuthorizedSource } from '../../namespace/authorized-source.ts';

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
  readonly metrics: {
    /** Count one answered HTTP request. */
    observeHttp(opts: { surface: string; route: string; status: number; seconds: number }): void;
  };
}
