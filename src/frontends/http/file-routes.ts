import { z } from 'zod';
import { FsError } from '../../core/fs-error.ts';
import { childPath, joinPath } from '../../core/names.ts';
import { removeTree } from '../../sources/remove-tree.ts';
import type { Entry, Source } from '../../sources/source.ts';
import { API_PREFIX, type ApiState, queryFlag } from './api-state.ts';
import { changeEventSchema, serveEvents } from './events.ts';
import { digestField, receiveContent, sendContent } from './file-content.ts';
import {
  apiPath,
  canonicalPath,
  fileInfo,
  fileInfoSchema,
  type PathIndex,
  resolveParent,
  resolvePath,
} from './paths.ts';
import { sendJson } from './respond.ts';
import { type AnyRoute, defineRoute } from './route.ts';

const pathQuery = z.object({ path: apiPath }).strict();

const listQuery = z
  .object({
    path: apiPath,
    cursor: z.string().max(4096).optional().describe('`cursor` of the previous page; absent for the first'),
    limit: z.coerce.number().int().min(1).max(1000).default(200).describe('entries per page (1–1000)'),
  })
  .strict();

const listAnswer = z.object({
  path: z.string(),
  entries: z.array(fileInfoSchema),
  cursor: z.string().nullable().describe('pass as `cursor` for the next page; null after the last page'),
});

const putQuery = z
  .object({
    path: apiPath,
    overwrite: z
      .enum(['true', 'false', '1', '0'])
      .default('true')
      .transform((v) => v === 'true' || v === '1')
      .describe('replace an existing file (default true); false answers 409 EEXIST instead'),
  })
  .strict();

const mkdirBody = z
  .object({
    path: apiPath,
    parents: z.boolean().default(false).describe('create missing parents; an existing directory is fine'),
  })
  .strict();

const moveBody = z
  .object({
    from: apiPath,
    to: apiPath,
    overwrite: z.boolean().default(false).describe('replace what is at `to` (default: 409 EEXIST)'),
  })
  .strict();

const deleteQuery = z
  .object({ path: apiPath, recursive: queryFlag('delete a directory with everything in it') })
  .strict();

const eventsQuery = z
  .object({
    prefix: apiPath.default('/').describe('only changes at or below this path (default /: everything)'),
  })
  .strict();

const CONTENT_HEADERS = {
  etag: 'version of the file (changes with content and attributes)',
  'last-modified': 'modification time',
  'repr-digest': 'sha-256 of the whole file (RFC 9530), when known or asked for',
  'accept-ranges': 'bytes',
};

async function mkdirs(opts: {
  source: Source;
  path: string;
  parents: boolean;
  index: PathIndex;
}): Promise<{ entry: Entry; created: boolean }> {
  const { source, index } = opts;
  if (!opts.parents) {
    const { parent, name, path } = await resolveParent({ source, path: opts.path, op: 'mkdir', index });
    const entry = await source.mkdir({ parent: parent.id, name, mode: 0o755 });
    index.remember(entry.id, path);
    return { entry, created: true };
  }
  const { segments } = canonicalPath('mkdir', opts.path);
  let cur: Entry = await resolvePath({ source, path: '/', op: 'mkdir' });
  let created = false;
  for (let i = 0; i < segments.length; i++) {
    const name = segments[i]!;
    const path = joinPath(segments.slice(0, i + 1));
    try {
      cur = await source.lookup({ parent: cur.id, name });
      if (cur.attr.kind !== 'dir') throw FsError.ENOTDIR('mkdir', path);
    } catch (err) {
      if (!FsError.is(err, 'ENOENT')) throw err;
      try {
        cur = await source.mkdir({ parent: cur.id, name, mode: 0o755 });
        created = true;
      } catch (made) {
        // Someone else made it meanwhile: use theirs.
        if (!FsError.is(made, 'EEXIST')) throw made;
        cur = await source.lookup({ parent: cur.id, name });
      }
    }
    index.remember(cur.id, path);
  }
  return { entry: cur, created };
}

/** Files: stat, list, content (GET, HEAD, PUT), mkdir, move, delete, and the event stream. */
export function fileRoutes(state: ApiState): AnyRoute[] {
  const { index, digests } = state;
  const contentGet = (head: boolean) =>
    defineRoute({
      method: head ? 'HEAD' : 'GET',
      path: `${API_PREFIX}/files/content`,
      auth: 'token',
      tag: 'files',
      summary: head ? "A file's content headers, without the body" : "A file's content",
      description:
        'One byte range (`Range: bytes=a-b`, `a-`, `-n`) answers 206; an unsatisfiable one 416. ' +
        '`If-None-Match`/`If-Modified-Since` answer 304, `If-Range` falls back to the whole file ' +
        'when the file changed. `Want-Repr-Digest: sha-256=1` makes sure `Repr-Digest` is sent.',
      query: pathQuery,
      headers: {
        range: 'one byte range',
        'if-range': 'entity tag or date the range is valid for',
        'if-none-match': 'entity tags already held',
        'if-modified-since': 'date of the copy already held',
        'want-repr-digest': 'sha-256=1 to get Repr-Digest even when not yet known',
      },
      responses: {
        200: {
          description: 'the whole file',
          contentType: 'application/octet-stream',
          headers: CONTENT_HEADERS,
        },
        206: {
          description: 'the range asked for',
          contentType: 'application/octet-stream',
          headers: { ...CONTENT_HEADERS, 'content-range': 'bytes start-end/size' },
        },
        304: { description: 'not modified' },
        416: { description: 'range not satisfiable', headers: { 'content-range': 'bytes */size' } },
      },
      handle: ({ req, res, query, principal }) =>
        sendContent({ req, res, source: principal!.view, path: query.path, index, digests, head }),
    });

  return [
    defineRoute({
      method: 'GET',
      path: `${API_PREFIX}/files/stat`,
      auth: 'token',
      tag: 'files',
      summary: 'Describe a file or directory',
      query: pathQuery,
      responses: { 200: { description: 'the entry', schema: fileInfoSchema } },
      async handle({ res, query, principal }) {
        const e = await resolvePath({ source: principal!.view, path: query.path, op: 'stat', index });
        sendJson(res, 200, fileInfo(e));
      },
    }),
    defineRoute({
      method: 'GET',
      path: `${API_PREFIX}/files/list`,
      auth: 'token',
      tag: 'files',
      summary: 'List a directory a page at a time (sorted by name)',
      description:
        'Every entry present for the whole listing is returned exactly once, even while the ' +
        'directory changes; a cursor stays valid for 60 s of inactivity and then resumes after the ' +
        'last name returned.',
      query: listQuery,
      responses: { 200: { description: 'one page', schema: listAnswer } },
      async handle({ res, query, principal }) {
        const source = principal!.view;
        const dir = await resolvePath({ source, path: query.path, op: 'list', index });
        if (dir.attr.kind !== 'dir') throw FsError.ENOTDIR('list', dir.path);
        const page = await source.readdirp({ dir: dir.id, cookie: query.cursor ?? '', max: query.limit });
        const entries = page.entries.map((e) => {
          const path = childPath(dir.path, e.name);
          index.remember(e.id, path);
          return fileInfo({ path, id: e.id, attr: e.attr });
        });
        sendJson(res, 200, { path: dir.path, entries, cursor: page.eof ? null : page.cookie });
      },
    }),
    contentGet(false),
    contentGet(true),
    defineRoute({
      method: 'PUT',
      path: `${API_PREFIX}/files/content`,
      auth: 'token',
      tag: 'files',
      summary: 'Upload a file (streamed; visible only once complete)',
      description:
        'The body is written to a new version of the file that replaces the old one only when ' +
        'the upload completes: an interrupted upload, a body shorter than Content-Length or a ' +
        'mismatching digest leave the old content (or no file). `If-Match: <etag>` writes only ' +
        'over that version, `If-None-Match: *` only when no file exists (else 412).',
      query: putQuery,
      rawBody: { contentType: 'application/octet-stream', description: 'the new content' },
      headers: {
        'content-digest': 'sha-256=:<base64>: to have the upload verified (or Repr-Digest)',
        'if-match': 'entity tag the file must have',
        'if-none-match': '* to create only',
      },
      responses: {
        200: { description: 'replaced', schema: fileInfoSchema, headers: { etag: 'new version' } },
        201: { description: 'created', schema: fileInfoSchema, headers: { etag: 'new version' } },
        412: { description: 'a precondition failed' },
      },
      async handle({ req, res, query, principal }) {
        const out = await receiveContent({
          req,
          source: principal!.view,
          path: query.path,
          index,
          digests,
          overwrite: query.overwrite,
        });
        sendJson(res, out.created ? 201 : 200, out.info, {
          etag: out.info.etag,
          'repr-digest': digestField(out.digest),
        });
      },
    }),
    defineRoute({
      method: 'POST',
      path: `${API_PREFIX}/files/mkdir`,
      auth: 'token',
      tag: 'files',
      summary: 'Create a directory',
      body: mkdirBody,
      responses: {
        201: { description: 'created', schema: fileInfoSchema },
        200: { description: 'it existed already (parents: true)', schema: fileInfoSchema },
      },
      async handle({ res, body, principal }) {
        const { entry, created } = await mkdirs({
          source: principal!.view,
          path: body.path,
          parents: body.parents,
          index,
        });
        sendJson(
          res,
          created ? 201 : 200,
          fileInfo({ path: canonicalPath('mkdir', body.path).path, ...entry }),
        );
      },
    }),
    defineRoute({
      method: 'POST',
      path: `${API_PREFIX}/files/move`,
      auth: 'token',
      tag: 'files',
      summary: 'Move or rename a file or directory (within one mount; across mounts 409 EXDEV)',
      body: moveBody,
      responses: { 200: { description: 'moved; the entry at its new path', schema: fileInfoSchema } },
      async handle({ res, body, principal }) {
        const source = principal!.view;
        const from = await resolveParent({ source, path: body.from, op: 'move', index });
        const to = await resolveParent({ source, path: body.to, op: 'move', index });
        await source.rename({
          parent: from.parent.id,
          name: from.name,
          newParent: to.parent.id,
          newName: to.name,
          noreplace: !body.overwrite,
        });
        const entry = await source.lookup({ parent: to.parent.id, name: to.name });
        index.remember(entry.id, to.path);
        sendJson(res, 200, fileInfo({ path: to.path, ...entry }));
      },
    }),
    defineRoute({
      method: 'DELETE',
      path: `${API_PREFIX}/files`,
      auth: 'token',
      tag: 'files',
      summary: 'Delete a file, or a directory (empty, or with recursive=true)',
      query: deleteQuery,
      responses: { 204: { description: 'deleted' } },
      async handle({ res, query, principal }) {
        const source = principal!.view;
        const { parent, name } = await resolveParent({ source, path: query.path, op: 'delete', index });
        const entry = await source.lookup({ parent: parent.id, name });
        if (entry.attr.kind === 'dir' && !query.recursive) await source.rmdir({ parent: parent.id, name });
        else await removeTree({ source, parent: parent.id, name, entry, path: query.path });
        res.writeHead(204);
        res.end();
      },
    }),
    defineRoute({
      method: 'GET',
      path: `${API_PREFIX}/events`,
      auth: 'token',
      tag: 'events',
      summary: 'Live namespace changes below a prefix (Server-Sent Events)',
      description:
        'An `event: ready` first, then one `event: change` per change, its data a JSON object ' +
        '(schema ChangeEvent). Comment lines every 15 s keep the stream alive. No replay: after ' +
        'a reconnect, list again.',
      query: eventsQuery,
      responses: {
        200: {
          description: 'the stream',
          contentType: 'text/event-stream',
          headers: { 'content-type': 'text/event-stream' },
        },
      },
      handle: ({ req, res, query, principal }) =>
        serveEvents({
          req,
          res,
          source: principal!.view,
          prefix: query.prefix,
          index,
          logger: state.host.logger,
          stop: state.stopping,
        }),
    }),
  ];
}

/** Schemas the OpenAPI document lists besides the routes' own. */
export const EXTRA_SCHEMAS = { ChangeEvent: changeEventSchema };
