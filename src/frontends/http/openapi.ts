import { z } from 'zod';
import type { AnyRoute, ResponseDoc } from './route.ts';

type JsonSchema = Record<string, unknown>;

/** JSON Schema of a request-side zod schema (as clients send it, before coercion). */
function inputSchema(schema: z.ZodType): JsonSchema {
  const out = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
  delete out.$schema;
  return out;
}

/** JSON Schema of a response-side zod schema. */
function outputSchema(schema: z.ZodType): JsonSchema {
  const out = z.toJSONSchema(schema, { io: 'output', unrepresentable: 'any' }) as JsonSchema;
  delete out.$schema;
  return out;
}

function queryParameters(route: AnyRoute): JsonSchema[] {
  const params: JsonSchema[] = [];
  if (route.query !== undefined) {
    const schema = inputSchema(route.query);
    const required = new Set((schema.required as string[] | undefined) ?? []);
    const props = (schema.properties ?? {}) as Record<string, JsonSchema>;
    for (const [name, prop] of Object.entries(props)) {
      const { description, ...rest } = prop;
      params.push({ name, in: 'query', required: required.has(name), description, schema: rest });
    }
  }
  for (const [name, description] of Object.entries(route.headers ?? {})) {
    params.push({ name, in: 'header', required: false, description, schema: { type: 'string' } });
  }
  return params;
}

function response(doc: ResponseDoc): JsonSchema {
  const out: JsonSchema = { description: doc.description };
  if (doc.schema !== undefined) out.content = { 'application/json': { schema: outputSchema(doc.schema) } };
  else if (doc.contentType !== undefined) out.content = { [doc.contentType]: {} };
  if (doc.headers !== undefined) {
    out.headers = Object.fromEntries(
      Object.entries(doc.headers).map(([name, description]) => [
        name,
        { description, schema: { type: 'string' } },
      ]),
    );
  }
  return out;
}

const ERROR_RESPONSE = {
  description: 'An error: the status comes from the errno table (docs/errors.md), the body names the errno',
  content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
};

/**
 * The OpenAPI 3.1 document of a route table, generated from the same zod schemas that
 * validate requests, so it describes exactly the routes that are served.
 */
export function openApiDocument(opts: {
  routes: readonly AnyRoute[];
  version: string;
  /** Schemas of things that are not request or response bodies (event payloads). */
  schemas?: Record<string, z.ZodType> | undefined;
}): JsonSchema {
  const paths: Record<string, Record<string, JsonSchema>> = {};
  for (const route of opts.routes) {
    const op: JsonSchema = {
      operationId: `${route.method.toLowerCase()}${route.path.replace(/[^a-zA-Z0-9]+(.)?/g, (_m, c?: string) => (c ?? '').toUpperCase())}`,
      tags: [route.tag],
      summary: route.summary,
      security: route.auth === 'token' ? [{ bearer: [] }] : [],
      parameters: queryParameters(route),
      responses: {
        ...Object.fromEntries(Object.entries(route.responses).map(([code, doc]) => [code, response(doc)])),
        default: ERROR_RESPONSE,
      },
    };
    if (route.description !== undefined) op.description = route.description;
    if (route.body !== undefined) {
      op.requestBody = {
        required: true,
        content: { 'application/json': { schema: inputSchema(route.body) } },
      };
    } else if (route.rawBody !== undefined) {
      op.requestBody = {
        required: true,
        description: route.rawBody.description,
        content: { [route.rawBody.contentType]: { schema: { type: 'string', format: 'binary' } } },
      };
    }
    (paths[route.path] ??= {})[route.method.toLowerCase()] = op;
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Tessera node API',
      version: opts.version,
      description:
        "The REST API of one Tessera node: its namespace's files, exports, status and live changes. " +
        'Log in with a credential (`POST /api/v1/auth/login`) and send the token as `Authorization: Bearer …`.',
    },
    paths,
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      schemas: {
        ...Object.fromEntries(Object.entries(opts.schemas ?? {}).map(([name, s]) => [name, outputSchema(s)])),
        Error: {
          type: 'object',
          required: ['error'],
          properties: {
            error: {
              type: 'object',
              required: ['code', 'op', 'message', 'retryable'],
              properties: {
                code: { type: 'string', description: 'errno name, e.g. ENOENT' },
                op: { type: 'string' },
                path: { type: 'string' },
                message: { type: 'string' },
                retryable: { type: 'boolean' },
              },
            },
          },
        },
      },
    },
  };
}
