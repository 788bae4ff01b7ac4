import { z } from 'zod';
import type { SearchPage, SearchQuery } from '../../catalog/search.ts';
import { API_PREFIX, type ApiState, queryFlag } from './api-state.ts';
import { catalogOf, catalogScope, labelListParam } from './catalog-scope.ts';
import { apiPath } from './paths.ts';
import { sendJson } from './respond.ts';
import { type AnyRoute, defineRoute } from './route.ts';

const searchQuery = z.strictObject({
  q: z.string().max(1024).optional().describe('case-insensitive substring of the name'),
  glob: z.string().max(1024).optional().describe('shell glob over the whole name (case-sensitive)'),
  labels: labelListParam('comma-separated labels the file must all have').optional(),
  under: apiPath.optional().describe('only below this namespace directory'),
  dirs: queryFlag('include directories'),
  limit: z.coerce.number().int().min(1).max(1000).default(50).describe('results per page (1–1000)'),
  cursor: z
    .string()
    .regex(/^[0-9]{1,16}$/, 'a cursor from a previous page')
    .optional(),
});

const resultSchema = z.object({
  path: z.string(),
  name: z.string(),
  kind: z.string(),
  size: z.number(),
  mtime: z.string().describe('ISO 8601'),
  mime: z.string().nullable(),
  labels: z.array(z.string()),
});

/** Search of the catalog (names, globs, labels), limited to what the caller may see. */
export function searchRoutes(state: ApiState): AnyRoute[] {
  return [
    defineRoute({
      method: 'GET',
      path: `${API_PREFIX}/search`,
      auth: 'token',
      tag: 'catalog',
      summary: 'Find files by name, glob and labels (the catalog)',
      description:
        'Only files of mounts the caller may see are returned, so a page can hold fewer than ' +
        '`limit` results; follow `next` until it is null. 501 ENOSYS when the catalog is off.',
      query: searchQuery,
      responses: {
        200: {
          description: 'a page of results',
          schema: z.object({ results: z.array(resultSchema), next: z.string().nullable() }),
        },
      },
      async handle({ res, query, principal }) {
        const catalog = catalogOf(state, 'search');
        const { visible } = await catalogScope(principal!, 'search');
        const request: SearchQuery = { ...query, labels: query.labels ?? [] };
        const page: SearchPage = catalog.search(request);
        sendJson(res, 200, {
          results: page.results
            .filter((doc) => visible.has(doc.mount))
            .map((doc) => ({
              path: doc.path,
              name: doc.name,
              kind: doc.kind,
              size: doc.size,
              mtime: new Date(doc.mtimeMs).toISOString(),
              mime: doc.mime,
              labels: doc.labels,
            })),
          next: page.next ?? null,
        });
      },
    }),
  ];
}
