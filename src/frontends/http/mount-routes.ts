import { z } from 'zod';
import { FsError } from '../../core/fs-error.ts';
import type { Grant } from '../../namespace/authorization.ts';
import { API_PREFIX, type ApiState } from './api-state.ts';
import { apiPath, canonicalPath } from './paths.ts';
import { sendJson } from './respond.ts';
import { type AnyRoute, defineRoute } from './route.ts';

const mountSchema = z.looseObject({
  path: z.string(),
  alias: z.string(),
  export: z.string(),
  ro: z.boolean(),
  state: z.string().describe('mounted or failed (with error)'),
  error: z.string().optional(),
  serving: z.string().optional().describe('URL of the endpoint serving now'),
});

const nodeUrl = z
  .string()
  .max(2048)
  .regex(/^wss?:\/\/[^/]+(\/tessera)?\/?$/, 'must be wss://host:port (or ws:// for an --insecure node)')
  .describe('the node to mount from: wss://host:port');

const addBody = z
  .strictObject({
    url: nodeUrl,
    export: apiPath.describe('the export on that node, e.g. /files'),
    alias: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/, 'letters, digits, . _ - (at most 63)')
      .describe('name of the mount (default path /<alias>/<export>)'),
    path: apiPath.optional().describe('where in this namespace (default /<alias>/<export>)'),
    ro: z.boolean().default(false),
    rename: z
      .enum(['exdev', 'copy'])
      .default('exdev')
      .describe('renames to other sources: refuse or copy + unlink'),
    cache: z.boolean().default(true).describe('a client cache in front of the mount (docs/cache.md)'),
    credential: z.strictObject({ id: z.string().min(1).max(200), secret: z.string().min(1).max(1024) }),
    fingerprint: z
      .string()
      .regex(/^([0-9A-Fa-f]{2}:){31}[0-9A-Fa-f]{2}$/)
      .optional()
      .describe("accept only this certificate (else the node's certificate is pinned on first contact)"),
  })
  .describe('a remote mount');

async function checkOwner(state: ApiState, grant: Grant, op: string): Promise<void> {
  if (!(await state.host.isOwner(grant.credentialId))) {
    throw FsError.EACCES(op, undefined, "only the node's owner credential may change mounts");
  }
}

/** Remote mounts of the node: list, add, remove (owner only). */
export function mountRoutes(state: ApiState): AnyRoute[] {
  return [
    defineRoute({
      method: 'GET',
      path: `${API_PREFIX}/mounts`,
      auth: 'token',
      tag: 'mounts',
      summary: 'Remote mounts: state, serving endpoint, health, switches',
      responses: { 200: { description: 'the mounts', schema: z.object({ mounts: z.array(mountSchema) }) } },
      handle({ res }) {
        sendJson(res, 200, { mounts: state.host.mounts() });
      },
    }),
    defineRoute({
      method: 'POST',
      path: `${API_PREFIX}/mounts`,
      auth: 'token',
      tag: 'mounts',
      summary: "Mount another node's export (owner only)",
      description:
        'Recorded in tessera.toml like `tessera mount` (the credential in the mount credential ' +
        'store, never in the config) and mounted at once; the answer is the mount as it stands ' +
        '(state failed, with the error, when the node cannot be reached or has no such export — ' +
        'the mount stays configured and is retried).',
      body: addBody,
      responses: {
        201: { description: 'mounted (or configured)', schema: z.object({ mount: mountSchema }) },
      },
      async handle({ res, body, principal }) {
        await checkOwner(state, principal!.grant, 'mount');
        const url = `${new URL(body.url).protocol}//${new URL(body.url).host}/tessera`;
        const mount = await state.host.addMount({
          url,
          exportName: canonicalPath('mount', body.export).path,
          alias: body.alias,
          path: body.path === undefined ? undefined : canonicalPath('mount', body.path).path,
          ro: body.ro,
          rename: body.rename,
          cache: body.cache,
          credential: body.credential,
          fingerprint: body.fingerprint?.toUpperCase(),
        });
        sendJson(res, 201, { mount });
      },
    }),
    defineRoute({
      method: 'DELETE',
      path: `${API_PREFIX}/mounts`,
      auth: 'token',
      tag: 'mounts',
      summary: 'Remove a remote mount (owner only)',
      query: z.strictObject({ path: apiPath }),
      responses: { 204: { description: 'removed' } },
      async handle({ res, query, principal }) {
        await checkOwner(state, principal!.grant, 'unmount');
        await state.host.removeMount({ path: canonicalPath('unmount', query.path).path });
        res.writeHead(204);
        res.end();
      },
    }),
  ];
}
