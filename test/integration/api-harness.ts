// Shared setup of the REST API tests: a node on loopback serving the API surface, and a
// small fetch client that logs in with a credential and sends its bearer token.
import { createApiSurface } from '../../src/frontends/http/api-surface.ts';
import type { TesseraNode } from '../../src/node/node.ts';
import { credential, startNode } from './node-harness.ts';

/** A node serving the API (plain HTTP), with a clock the test may move. */
export async function startApiNode(opts: { exports?: string[] } = {}): Promise<{
  node: TesseraNode;
  home: string;
  base: string;
  clock: { now: number };
  stop: () => Promise<void>;
}> {
  const clock = { now: Date.now() };
  const started = await startNode({
    insecure: true,
    exports: opts.exports,
    surfaces: (host) => [createApiSurface({ host, now: () => clock.now })],
  });
  return { ...started, clock, base: `http://127.0.0.1:${started.node.address.port}` };
}

/** {@link startApiNode} with a client logged in as a credential `owner` of every export. */
export async function startApiWithOwner(): Promise<{
  node: TesseraNode;
  home: string;
  base: string;
  api: ApiClient;
  stop: () => Promise<void>;
}> {
  const { node, home, base, stop } = await startApiNode();
  const { client } = await ApiClient.forNew({ base, home, name: 'owner' });
  return { node, home, base, api: client, stop };
}

/** A logged-in API client. */
export class ApiClient {
  constructor(
    readonly base: string,
    readonly token: string,
  ) {}

  /** Log in with a credential (throws unless 200). */
  static async login(base: string, cred: { id: string; secret: string }): Promise<ApiClient> {
    const res = await fetch(`${base}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(cred),
    });
    if (res.status !== 200) throw new Error(`login: ${res.status} ${await res.text()}`);
    const { token } = (await res.json()) as { token: string };
    return new ApiClient(base, token);
  }

  /** Make a credential on the node's home and log in with it. */
  static async forNew(opts: {
    base: string;
    home: string;
    name: string;
    exports?: string[];
    caps?: Partial<{ show: boolean; read: boolean; write: boolean; execute: boolean }>;
  }): Promise<{ client: ApiClient; cred: { id: string; secret: string } }> {
    const cred = await credential({
      home: opts.home,
      name: opts.name,
      exports: opts.exports,
      caps: opts.caps,
    });
    return { client: await ApiClient.login(opts.base, cred), cred };
  }

  fetch(path: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    headers.set('authorization', `Bearer ${this.token}`);
    return fetch(`${this.base}${path}`, { ...init, headers });
  }

  /** GET a JSON answer; throws unless the status is `expect`. */
  async json<T = Record<string, unknown>>(path: string, init: RequestInit = {}, expect = 200): Promise<T> {
    const res = await this.fetch(path, init);
    const text = await res.text();
    if (res.status !== expect) throw new Error(`${init.method ?? 'GET'} ${path}: ${res.status} ${text}`);
    return JSON.parse(text) as T;
  }

  /** POST a JSON body. */
  post(path: string, body: unknown): Promise<Response> {
    return this.fetch(path, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  }

  put(path: string, body: Uint8Array | string, headers: Record<string, string> = {}): Promise<Response> {
    return this.fetch(`/api/v1/files/content?path=${encodeURIComponent(path)}`, {
      method: 'PUT',
      body,
      headers,
    });
  }

  get(path: string, headers: Record<string, string> = {}): Promise<Response> {
    return this.fetch(`/api/v1/files/content?path=${encodeURIComponent(path)}`, { headers });
  }
}

/** The `error` object of an error answer. */
export async function errorOf(res: Response): Promise<{ code: string; message: string }> {
  return ((await res.json()) as { error: { code: string; message: string } }).error;
}
