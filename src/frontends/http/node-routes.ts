import { z } from 'zod';
import { API_PREFIX, type ApiState } from './api-state.ts';
import { sendJson } from './respond.ts';
import { type AnyRoute, defineRoute } from './route.ts';

const healthAnswer = z.object({
  ok: z.boolean(),
  node: z.string(),
  name: z.string(),
  uptime_s: z.number(),
});

const statusAnswer = z.object({
  id: z.string(),
  name: z.string(),
  url: z.string(),
  protocol: z.object({ min: z.number(), max: z.number() }),
  started: z.string(),
  uptime_s: z.number(),
  sessions: z.number(),
  mounts: z.array(
    z.object({ path: z.string(), export: z.string(), source_kind: z.string(), ro: z.boolean() }),
  ),
});

const capsSchema = z.record(z.string(), z.union([z.boolean(), z.number()]));
const exportsAnswer = z.object({
  exports: z.array(
    z.object({
      path: z.string().describe('where it is in the namespace'),
      ro: z.boolean().describe('read-only for this principal'),
      desc: z.string(),
      source_kind: z.string(),
      caps: capsSchema,
    }),
  ),
});

/** Health, metrics, the OpenAPI document, node status and exports. */
export function nodeRoutes(state: ApiState, document: () => unknown): AnyRoute[] {
  return [
    defineRoute({
      method: 'GET',
      path: '/health',
      auth: 'none',
      tag: 'node',
      summary: 'Liveness: 200 while the node serves, 503 while it shuts down',
      responses: {
        200: { description: 'serving', schema: healthAnswer },
        503: { description: 'shutting down', schema: healthAnswer },
      },
      handle({ res }) {
        const status = state.host.status();
        const ok = !state.closing();
        sendJson(res, ok ? 200 : 503, { ok, node: status.id, name: status.name, uptime_s: status.uptime_s });
      },
    }),
    defineRoute({
      method: 'GET',
      path: '/metrics',
      auth: 'none',
      tag: 'node',
      summary: "The node's metrics (Prometheus text exposition format 0.0.4)",
      responses: { 200: { description: 'metrics', contentType: 'text/plain; version=0.0.4' } },
      handle({ res }) {
        const text = state.host.metricsText();
        res.writeHead(200, {
          'content-type': 'text/plain; version=0.0.4; charset=utf-8',
          'content-length': String(Buffer.byteLength(text)),
          'cache-control': 'no-store',
        });
        res.end(text);
      },
    }),
    defineRoute({
      method: 'GET',
      path: `${API_PREFIX}/openapi.json`,
      auth: 'none',
      tag: 'node',
      summary: 'This document: every route of the API',
      responses: { 200: { description: 'the OpenAPI 3.1 document', contentType: 'application/json' } },
      handle({ res }) {
        sendJson(res, 200, document(), { 'cache-control': 'no-cache' });
      },
    }),
    defineRoute({
      method: 'GET',
      path: `${API_PREFIX}/node`,
      auth: 'token',
      tag: 'node',
      summary: "The node's status: identity, address, uptime, sessions, mounts",
      responses: { 200: { description: 'status', schema: statusAnswer } },
      handle({ res }) {
        sendJson(res, 200, state.host.status());
      },
    }),
    defineRoute({
      method: 'GET',
      path: `${API_PREFIX}/exports`,
      auth: 'token',
      tag: 'node',
      summary: 'What the namespace holds, as this principal may see it',
      responses: { 200: { description: 'exports and mounts', schema: exportsAnswer } },
      async handle({ res, principal }) {
        const list = await principal!.view.listExports();
        sendJson(res, 200, {
          exports: list
            .filter((e) => e.name !== '/')
            .map((e) => ({ path: e.name, ro: e.ro, desc: e.desc, source_kind: e.source_kind, caps: e.caps })),
        });
      },
    }),
  ];
}
