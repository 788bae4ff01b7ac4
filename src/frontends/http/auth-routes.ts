import { z } from 'zod';
import { FsError } from '../../core/fs-error.ts';
import { API_PREFIX, API_SURFACE, type ApiState } from './api-state.ts';
import { sendJson } from './respond.ts';
import { type AnyRoute, defineRoute } from './route.ts';

const loginBody = z
  .object({
    id: z.string().min(1).max(200).describe('access key id of a credential (tk_…)'),
    secret: z.string().min(1).max(1024).describe("the credential's secret"),
  })
  .strict();

const loginAnswer = z.object({
  token: z.string().describe('send as `Authorization: Bearer <token>`'),
  token_type: z.literal('Bearer'),
  expires_at: z.string().describe('ISO 8601'),
  expires_in: z.number().describe('seconds'),
  principal: z.string(),
});

const whoamiAnswer = z.object({
  principal: z.string(),
  credential: z.string(),
  exports: z.union([z.literal('*'), z.array(z.string())]),
  caps: z.object({ show: z.boolean(), read: z.boolean(), write: z.boolean(), execute: z.boolean() }),
  expires_at: z.string(),
});

/** Login, whoami and logout. */
export function authRoutes(state: ApiState): AnyRoute[] {
  return [
    defineRoute({
      method: 'POST',
      path: `${API_PREFIX}/auth/login`,
      auth: 'none',
      tag: 'auth',
      summary: 'Exchange a credential for a short-lived bearer token',
      description:
        'After 5 failed attempts within a minute from one address, further attempts answer 429 ' +
        '(with Retry-After) until the oldest failure is a minute old.',
      body: loginBody,
      responses: {
        200: { description: 'logged in', schema: loginAnswer },
        401: { description: 'credential rejected (unknown id, wrong secret or disabled)' },
        429: { description: 'too many failed attempts', headers: { 'retry-after': 'seconds to wait' } },
      },
      async handle({ res, body, address }) {
        const wait = state.limiter.retryAfter(address);
        if (wait > 0) {
          const error = FsError.EAGAIN('login', undefined, `too many failed logins; retry in ${wait} s`);
          sendJson(res, 429, { error: error.toJSON() }, { 'retry-after': String(wait) });
          return;
        }
        let grant;
        try {
          grant = await state.host.authenticate({
            id: body.id,
            secret: body.secret,
            address,
            surface: API_SURFACE,
          });
        } catch (err) {
          if (FsError.is(err, 'EKEYREJECTED')) state.limiter.fail(address);
          throw err;
        }
        const { token, record } = state.tokens.issue({
          credentialId: grant.credentialId,
          principal: grant.principal,
        });
        sendJson(res, 200, {
          token,
          token_type: 'Bearer',
          expires_at: new Date(record.expires).toISOString(),
          expires_in: Math.round((record.expires - record.issued) / 1000),
          principal: grant.principal,
        });
      },
    }),
    defineRoute({
      method: 'GET',
      path: `${API_PREFIX}/auth/whoami`,
      auth: 'token',
      tag: 'auth',
      summary: 'Who the token belongs to and what it may do',
      responses: { 200: { description: 'the principal', schema: whoamiAnswer } },
      handle({ res, principal }) {
        const { grant, expires } = principal!;
        sendJson(res, 200, {
          principal: grant.principal,
          credential: grant.credentialId,
          exports: grant.exports === '*' ? '*' : [...grant.exports].sort(),
          caps: grant.caps,
          expires_at: new Date(expires).toISOString(),
        });
      },
    }),
    defineRoute({
      method: 'POST',
      path: `${API_PREFIX}/auth/logout`,
      auth: 'token',
      tag: 'auth',
      summary: 'Revoke the token',
      responses: { 204: { description: 'logged out' } },
      handle({ res, principal }) {
        state.tokens.revoke(principal!.token);
        res.writeHead(204);
        res.end();
      },
    }),
  ];
}
