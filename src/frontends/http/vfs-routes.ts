import { z } from 'zod';
import { directoryInputSchema } from '../../catalog/vfs/directory-doc.ts';
import type { ListedEntry, VirtualDirectories } from '../../catalog/vfs/virtual-directories.ts';
import { FsError } from '../../core/fs-error.ts';
import { API_PREFIX, type ApiState, queryFlag } from './api-state.ts';
import { type CatalogScope, catalogScope, checkShow, virtualDirectories } from './catalog-scope.ts';
import { PreconditionFailed, sendJson } from './respond.ts';
import { type AnyRoute, defineRoute, type Principal } from './route.ts';

const virtualPath = z
  .string()
  .min(1)
  .max(4096)
  .regex(/^\//, 'must be an absolute path (start with /)')
  .describe('virtual path, relative to where the virtual directories are mounted (/photos, not /vfs/photos)');

const storedFields = {
  path: z.string(),
  system: z.boolean().describe('system directories (the root) cannot be deleted'),
  rev: z.number().int().describe('bumped on every change'),
  created_ms: z.number(),
  updated_ms: z.number(),
};

/** A create/update/preview body: the settable fields; a fetched document sent back as it is also passes. */
const documentBody = directoryInputSchema
  .extend({
    path: z.string().optional().describe('ignored unless it differs from the path in the query (400)'),
    system: z.boolean().optional(),
    rev: z.number().optional(),
    created_ms: z.number().optional(),
    updated_ms: z.number().optional(),
  })
  .describe('a virtual directory document (docs/vfs.md)');

const documentSchema = directoryInputSchema.extend(storedFields);

const entrySchema = z.object({
  name: z.string(),
  kind: z.enum(['file', 'dir']),
  virtual: z.boolean().optional().describe('a directory that is a document of its own'),
  mount: z.string().optional().describe('id of the mount that placed the file'),
  file: z
    .object({
      node: z.string(),
      export: z.string(),
      path: z.string().describe('path within the export'),
      nsPath: z.string().describe('namespace path of the real file'),
      size: z.number(),
      mtimeMs: z.number(),
    })
    .optional(),
});

const pathQuery = z.strictObject({ path: virtualPath });

/**
 * The virtual directories (`ENOSYS` when off), for a caller that may change them (`EACCES`
 * otherwise): the node's owner credential, or a credential with `write` over every export
 * (`exports = *`). A directory can gather files of any export, so changing one is a
 * namespace-wide act, not one export's.
 */
async function editableVfs(state: ApiState, principal: Principal, op: string): Promise<VirtualDirectories> {
  const vfs = virtualDirectories(state, op);
  const { grant } = principal;
  if (grant.caps.write && grant.exports === '*') return vfs;
  if (await state.host.isOwner(grant.credentialId)) return vfs;
  throw FsError.EACCES(
    op,
    undefined,
    "virtual directories are changed by the node's owner credential or one with write over every export",
  );
}

/** Entries the caller may see: files of mounts it covers (directories always). */
function visibleEntries(scope: CatalogScope, entries: ListedEntry[]): ListedEntry[] {
  if (scope.everything) return entries;
  return entries.filter((e) => e.file === undefined || scope.sees(e.file.nsPath));
}

/** Virtual directories (docs/vfs.md): documents, a draft's preview, and listings. */
export function vfsRoutes(state: ApiState): AnyRoute[] {
  const dir = `${API_PREFIX}/vfs/directory`;
  return [
    defineRoute({
      method: 'GET',
      path: `${API_PREFIX}/vfs/directories`,
      auth: 'token',
      tag: 'vfs',
      summary: 'Every virtual directory document',
      responses: {
        200: {
          description: 'the documents, by path',
          schema: z.object({ directories: z.array(documentSchema) }),
        },
      },
      async handle({ res, principal }) {
        const vfs = virtualDirectories(state, 'vfs list');
        checkShow(principal!, 'vfs list');
        sendJson(res, 200, { directories: vfs.list() });
      },
    }),
    defineRoute({
      method: 'GET',
      path: dir,
      auth: 'token',
      tag: 'vfs',
      summary: 'One virtual directory document',
      query: pathQuery,
      responses: { 200: { description: 'the document', schema: documentSchema } },
      async handle({ res, query, principal }) {
        const vfs = virtualDirectories(state, 'vfs get');
        checkShow(principal!, 'vfs get');
        sendJson(res, 200, vfs.get({ path: query.path }));
      },
    }),
    defineRoute({
      method: 'POST',
      path: dir,
      auth: 'token',
      tag: 'vfs',
      summary: 'Create a virtual directory (owner, or write over every export)',
      description: 'Its parent must exist (409 EEXIST when the path is taken, 404 without a parent).',
      query: pathQuery,
      body: documentBody,
      responses: { 201: { description: 'the new document', schema: documentSchema } },
      async handle({ res, query, body, principal }) {
        const vfs = await editableVfs(state, principal!, 'vfs create');
        sendJson(res, 201, vfs.create({ path: query.path, body }));
      },
    }),
    defineRoute({
      method: 'PUT',
      path: dir,
      auth: 'token',
      tag: 'vfs',
      summary: "Replace a virtual directory's settings (owner, or write over every export)",
      description:
        'With `rev`, only if the document is still at that revision (else 412), so two editors ' +
        'do not overwrite each other unknowingly.',
      query: z.strictObject({
        path: virtualPath,
        rev: z.coerce.number().int().min(0).optional().describe('the revision the edit was made on'),
      }),
      body: documentBody,
      responses: { 200: { description: 'the document as saved', schema: documentSchema } },
      async handle({ res, query, body, principal }) {
        const op = 'vfs update';
        const vfs = await editableVfs(state, principal!, op);
        const current = vfs.get({ path: query.path });
        if (query.rev !== undefined && current.rev !== query.rev) {
          throw new PreconditionFailed(
            `${current.path} changed since revision ${query.rev} (it is at revision ${current.rev})`,
          );
        }
        sendJson(res, 200, vfs.update({ path: query.path, body, rev: query.rev }));
      },
    }),
    defineRoute({
      method: 'DELETE',
      path: dir,
      auth: 'token',
      tag: 'vfs',
      summary: 'Delete a virtual directory (owner, or write over every export)',
      description:
        'The real files are never touched. System directories (the root) answer 403 EPERM; a ' +
        'directory with child directories answers 409 ENOTEMPTY unless `recursive=true`.',
      query: z.strictObject({ path: virtualPath, recursive: queryFlag('delete its child directories too') }),
      responses: {
        200: { description: 'the deleted paths', schema: z.object({ deleted: z.array(z.string()) }) },
      },
      async handle({ res, query, principal }) {
        const vfs = await editableVfs(state, principal!, 'vfs remove');
        sendJson(res, 200, { deleted: vfs.remove({ path: query.path, recursive: query.recursive }) });
      },
    }),
    defineRoute({
      method: 'POST',
      path: `${API_PREFIX}/vfs/preview`,
      auth: 'token',
      tag: 'vfs',
      summary: 'What a draft document would list at `path`, without saving it',
      description:
        'The top-level entries it would list, and how many files in all. `path` need not exist; ' +
        "its parents' inherited steps apply as if it did. Editors only (the count covers every export).",
      query: pathQuery,
      body: documentBody,
      responses: {
        200: {
          description: 'the listing it would produce',
          schema: z.object({ entries: z.array(entrySchema), files: z.number() }),
        },
      },
      async handle({ res, query, body, principal }) {
        const vfs = await editableVfs(state, principal!, 'vfs preview');
        sendJson(res, 200, vfs.preview({ path: query.path, body }));
      },
    }),
    defineRoute({
      method: 'GET',
      path: `${API_PREFIX}/vfs/list`,
      auth: 'token',
      tag: 'vfs',
      summary: 'The entries of a virtual directory (or of a directory inside one)',
      description: 'Files of mounts the caller may not see are left out.',
      query: pathQuery,
      responses: {
        200: { description: 'its entries, by name', schema: z.object({ entries: z.array(entrySchema) }) },
      },
      async handle({ res, query, principal }) {
        const vfs = virtualDirectories(state, 'vfs readdir');
        const scope = await catalogScope(principal!, 'vfs readdir');
        sendJson(res, 200, { entries: visibleEntries(scope, vfs.readdir({ path: query.path })) });
      },
    }),
  ];
}
