import type { IncomingMessage, ServerResponse } from 'node:http';
import type { z } from 'zod';
import { FsError } from '../../core/fs-error.ts';
import type { Grant } from '../../namespace/authorization.ts';
import type { AuthorizedSource } from '../../namespace/authorized-source.ts';

/** HTTP methods the API serves. */
export type Method = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'DELETE';

/** The caller of an authenticated route: its grant, and the namespace as it may see it. */
export interface Principal {
  grant: Grant;
  /** A view made for this request (closed when the request ends). */
  view: AuthorizedSource;
  /** When the bearer token expires (ms since the epoch). */
  expires: number;
  /** The bearer token itself (logout revokes it). */
  token: string;
}

/** What a route handler gets: the validated query and body, and the caller. */
export interface RouteContext<Q, B> {
  req: IncomingMessage;
  res: ServerResponse;
  query: Q;
  body: B;
  /** Set on routes with `auth: 'token'`. */
  principal: Principal | undefined;
  /** The client's address (for rate limits and the audit log). */
  address: string;
}

/** One documented response of a route. */
export interface ResponseDoc {
  description: string;
  /** Schema of a JSON body. */
  schema?: z.ZodType | undefined;
  /** Content type of a non-JSON body (`application/octet-stream`, `text/event-stream`…). */
  contentType?: string | undefined;
  /** Response headers worth documenting, name → description. */
  headers?: Record<string, string> | undefined;
}

/**
 * One route of the API: the one place that says what a path accepts. The router validates
 * requests with these schemas and the OpenAPI document is generated from them, so the two
 * cannot disagree.
 */
export interface Route<Q = unknown, B = unknown> {
  method: Method;
  /** Exact path (`/api/v1/files/stat`); parameters travel in the query. */
  path: string;
  /** `token`: a bearer token from `POST /api/v1/auth/login` is required. */
  auth: 'token' | 'none';
  tag: string;
  summary: string;
  description?: string | undefined;
  /** Query parameters (an object schema over strings); unknown parameters are refused. */
  query?: z.ZodType<Q> | undefined;
  /** A JSON request body. */
  body?: z.ZodType<B> | undefined;
  /** A raw request body the handler streams itself (uploads). */
  rawBody?: { contentType: string; description: string } | undefined;
  /** Request headers the route honours, name → description. */
  headers?: Record<string, string> | undefined;
  responses: Record<number, ResponseDoc>;
  handle(ctx: RouteContext<Q, B>): void | Promise<void>;
}

/** A route of any query and body types (how the route table holds them). */
export type AnyRoute = Route<unknown, unknown>;

/** Type-check one route against its own schemas, then keep it in the table. */
export function defineRoute<Q, B>(route: Route<Q, B>): AnyRoute {
  return route;
}

/**
 * Validate `value` with `schema`, or throw `EINVAL` naming each problem and where it was
 * (`query parameter 'limit': Too big: expected number to be <=1000`).
 */
export function validate<T>(opts: { schema: z.ZodType<T>; value: unknown; where: string; op: string }): T {
  const parsed = opts.schema.safeParse(opts.value);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((issue) => {
    const at = issue.path.map(String).join('.');
    return at === '' ? `${opts.where}: ${issue.message}` : `${opts.where} '${at}': ${issue.message}`;
  });
  throw FsError.EINVAL(opts.op, undefined, problems.join('; '));
}

/** The query of a URL as an object; a parameter given twice is refused. */
export function queryObject(url: URL, op: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of url.searchParams) {
    if (Object.hasOwn(out, key)) throw FsError.EINVAL(op, undefined, `query parameter '${key}' given twice`);
    out[key] = value;
  }
  return out;
}
