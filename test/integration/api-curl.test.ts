// The REST API with real curl over TLS, served by the library's createNode (default surfaces),
// and the OpenAPI document checked against the routes the node really serves.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { request as httpsRequest } from 'node:https';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { createNode, type TesseraNode } from '../../src/index.ts';
import { CHEAP_ARGON2, credential, makeHome, quietLogger } from './node-harness.ts';

const run = promisify(execFile);

describe('REST API with curl, and its OpenAPI document', () => {
  let node: TesseraNode;
  let home: string;
  let cleanup: () => Promise<void>;
  let base: string;
  let ca: string;

  before(async () => {
    ({ home, cleanup } = await makeHome());
    node = await createNode({ home, listen: '127.0.0.1:0', logger: quietLogger(), argon2: CHEAP_ARGON2 });
    base = `https://127.0.0.1:${node.address.port}`;
    ca = join(home, 'tls', 'ca.crt');
  });
  after(async () => {
    await node.close();
    await cleanup();
  });

  /** curl with the node's CA; returns stdout. Fails on HTTP errors (--fail-with-body). */
  async function curl(args: string[]): Promise<string> {
    const { stdout } = await run(
      'curl',
      ['--silent', '--show-error', '--fail-with-body', '--cacert', ca, ...args],
      {
        encoding: 'utf8',
        maxBuffer: 64 * 1024 * 1024,
      },
    );
    return stdout;
  }

  it('logs in, lists, uploads and downloads a byte range with curl', async () => {
    const cred = await credential({ home, name: 'curl' });
    const login = JSON.parse(
      await curl([
        '-H',
        'content-type: application/json',
        '-d',
        JSON.stringify(cred),
        `${base}/api/v1/auth/login`,
      ]),
    ) as { token: string };
    const auth = ['-H', `Authorization: Bearer ${login.token}`];

    const data = randomBytes(200_000);
    const file = join(home, 'upload.bin');
    await writeFile(file, data);
    const put = JSON.parse(
      await curl([...auth, '-T', file, `${base}/api/v1/files/content?path=/alpha/curl.bin`]),
    ) as { size: number };
    assert.equal(put.size, data.byteLength);

    const list = JSON.parse(await curl([...auth, `${base}/api/v1/files/list?path=/alpha`])) as {
      entries: { name: string; size: number }[];
    };
    assert.deepEqual(
      list.entries.map((e) => [e.name, e.size]),
      [['curl.bin', data.byteLength]],
    );

    const out = join(home, 'range.bin');
    const headers = await curl([
      ...auth,
      '-r',
      '1000-65535',
      '-o',
      out,
      '-D',
      '-',
      `${base}/api/v1/files/content?path=/alpha/curl.bin`,
    ]);
    assert.match(headers, /^HTTP\/1\.1 206/);
    assert.match(headers, /content-range: bytes 1000-65535\/200000/i);
    assert.match(headers, /etag: "/i);
    assert.ok((await readFile(out)).equals(data.subarray(1000, 65536)));

    const whole = join(home, 'whole.bin');
    await curl([...auth, '-o', whole, `${base}/api/v1/files/content?path=/alpha/curl.bin`]);
    assert.ok((await readFile(whole)).equals(data));

    await assert.rejects(curl([`${base}/api/v1/files/list?path=/alpha`]), /returned error: 401/);
  });

  /** The status of a request without a token, body or parameters (TLS checked against the CA). */
  async function statusOf(method: string, path: string): Promise<number> {
    const caPem = await readFile(ca);
    return new Promise((resolve, reject) => {
      const req = httpsRequest(`${base}${path}`, { method, ca: caPem }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', reject);
      req.end();
    });
  }

  it('describes every route it serves, and serves every route it describes', async () => {
    const doc = JSON.parse(await curl([`${base}/api/v1/openapi.json`])) as {
      openapi: string;
      paths: Record<
        string,
        Record<string, { security: unknown[]; parameters: { name: string; required: boolean }[] }>
      >;
    };
    assert.equal(doc.openapi, '3.1.0');
    const methods = ['get', 'head', 'post', 'put', 'delete', 'patch'];
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const method of methods) {
        // Without a token and without parameters: a described route answers anything but
        // 404/405 (401 when it needs a token, 400 when a parameter is missing…); an
        // undescribed method on a described path answers 405.
        const status = await statusOf(method.toUpperCase(), path);
        if (method === 'head' && ops.get !== undefined && ops.head === undefined) {
          assert.equal(status, 405, `HEAD ${path}`);
          continue;
        }
        if (ops[method] === undefined) assert.equal(status, 405, `${method} ${path} is not described`);
        else
          assert.ok(
            ![404, 405, 500].includes(status),
            `${method} ${path} is described but answers ${status}`,
          );
      }
    }
    // Paths that are not described are not served either.
    for (const path of ['/api/v1', '/api/v1/files/content/extra', '/api/v1/admin', '/api/v2/node']) {
      assert.equal(await statusOf('GET', path), 404, path);
    }
    // Every query parameter the router validates is described (a required one is marked so).
    const stat = doc.paths['/api/v1/files/stat']?.get;
    assert.deepEqual(
      stat?.parameters.map((p) => [p.name, p.required]),
      [['path', true]],
    );
  });
});
