// Virtual directories in a running node: the catalog indexes real exports, `tessera vfs`
// builds rule-based directories in the home's catalog, and the node shows them at /vfs through
// the protocol (the CLI), WebDAV and a FUSE mount — with the real files' bytes.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { addExport, initHome } from '../../src/core/home.ts';
import { defaultSurfaces } from '../../src/frontends/default-surfaces.ts';
import { ensureOwnerCredential } from '../../src/node/credentials.ts';
import { createNode, type TesseraNode } from '../../src/node/node.ts';
import { forceUnmount, fuseSkipReason, mountFs, sh, stopMount } from './fuse-harness.ts';
import { CHEAP_ARGON2, cli, credential, quietLogger } from './node-harness.ts';

const FILES: Record<string, string> = {
  'work/papers/2024/a.pdf': 'pdf a (work)',
  'work/papers/b.pdf': 'pdf b (work)',
  'work/papers/notes.txt': 'notes',
  'nas/scans/b.pdf': 'pdf b (nas), newer',
  'nas/scans/c.pdf': 'pdf c (nas)',
};

describe('virtual directories in a node', () => {
  let root: string;
  let home: string;
  let node: TesseraNode;
  let dav: (method: string, path: string, body?: string) => Promise<{ status: number; body: string }>;

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'tessera-vfs-node-'));
    home = join(root, 'home');
    await initHome({ root: home, name: 'vfsnode' });
    for (const name of ['work', 'nas']) {
      await mkdir(join(root, name));
      await addExport({
        root: home,
        entry: { name, kind: 'linux', path: join(root, name), ro: false, desc: '', options: {} },
      });
    }
    let age = 100;
    for (const [rel, text] of Object.entries(FILES)) {
      await mkdir(join(root, rel, '..'), { recursive: true });
      await writeFile(join(root, rel), text);
      const t = new Date(Date.now() - 1000 * age--);
      await utimes(join(root, rel), t, t);
    }
    await ensureOwnerCredential({ home, argon2: CHEAP_ARGON2 });
    node = await createNode({
      home,
      listen: '127.0.0.1:0',
      insecure: true,
      logger: quietLogger(),
      argon2: CHEAP_ARGON2,
      surfaces: defaultSurfaces,
    });
    assert.ok(node.catalog, 'the catalog runs');
    await node.catalog.settled();
    const cred = await credential({ home, name: 'vfs-dav' });
    const auth = `Basic ${Buffer.from(`${cred.id}:${cred.secret}`).toString('base64')}`;
    dav = async (method, path, body) => {
      const res = await fetch(`http://127.0.0.1:${node.address.port}/dav${path}`, {
        method,
        headers: { authorization: auth, depth: '1' },
        body,
      });
      return { status: res.status, body: await res.text() };
    };
    const pdfs = join(root, 'pdfs.json');
    await writeFile(
      pdfs,
      JSON.stringify({
        mounts: [
          {
            source: { export: 'work', path: '/papers' },
            strategy: 'flatten',
            conflict_policy: 'suffix_node_id',
          },
          { source: { export: 'nas', path: '/scans' }, strategy: 'flatten' },
        ].map((m) => ({
          ...m,
          steps: [{ op: 'glob', pattern: '*.pdf', on_match: 'include' }],
          default_result: 'exclude',
        })),
      }),
    );
    const made = await cli(['vfs', 'mkdir', '/pdfs', '--home', home, '--from', pdfs]);
    assert.equal(made.code, 0, made.err);
  });

  after(async () => {
    await node?.close();
    await rm(root, { recursive: true, force: true });
  });

  it('the CLI lists the rule-built directory through the node and reads the real bytes', async () => {
    const listed = await cli(['vfs', 'ls', '/pdfs', '--home', home]);
    assert.equal(listed.out, 'a.pdf\nb.pdf\nb~vfsnode.pdf\nc.pdf\n');
    assert.deepEqual(
      node.vfs?.readdir({ path: '/pdfs' }).map((e) => e.name),
      ['a.pdf', 'b.pdf', 'b~vfsnode.pdf', 'c.pdf'],
      'the node sees what the CLI made (node.vfs, for the REST API)',
    );
    const ls = await cli(['ls', '/vfs/pdfs', '--home', home]);
    assert.equal(ls.code, 0, ls.err);
    assert.deepEqual(ls.out.trim().split('\n').sort(), ['a.pdf', 'b.pdf', 'b~vfsnode.pdf', 'c.pdf']);
    const cat = await cli(['cat', '/vfs/pdfs/b.pdf', '--home', home]);
    assert.equal(cat.out, 'pdf b (nas), newer', 'the newest b.pdf keeps the name');
    const put = await cli(['mkdir', '/vfs/pdfs/new', '--home', home]);
    assert.equal(put.code, 30, 'EROFS: virtual directories are read-only');
  });

  it('a new file shows up in the virtual directory once indexed', async () => {
    await writeFile(join(root, 'nas/scans/d.pdf'), 'pdf d');
    const deadline = Date.now() + 10_000;
    let out = '';
    while (Date.now() < deadline) {
      out = (await cli(['ls', '/vfs/pdfs', '--home', home])).out;
      if (out.includes('d.pdf')) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.match(out, /^d\.pdf$/m);
  });

  it('WebDAV lists it and serves the bytes', async () => {
    const list = await dav('PROPFIND', '/vfs/pdfs/');
    assert.equal(list.status, 207, list.body);
    for (const name of ['a.pdf', 'b.pdf', 'c.pdf'])
      assert.match(list.body, new RegExp(`/dav/vfs/pdfs/${name.replace('.', '\\.')}<`));
    const get = await dav('GET', '/vfs/pdfs/a.pdf');
    assert.equal(get.status, 200);
    assert.equal(get.body, 'pdf a (work)');
    const putRes = await dav('PUT', '/vfs/pdfs/x.pdf', 'nope');
    assert.ok(putRes.status >= 400, `PUT refused (${putRes.status})`);
  });

  it('a FUSE mount of the namespace shows it', { skip: fuseSkipReason() ?? false }, async () => {
    const mountpoint = join(root, 'mnt');
    const m = await mountFs({ home, mountpoint });
    try {
      const ls = await sh(`ls '${mountpoint}/vfs/pdfs'`);
      assert.equal(ls.code, 0, ls.err);
      assert.deepEqual(ls.out.trim().split('\n').sort().slice(0, 4), [
        'a.pdf',
        'b.pdf',
        'b~vfsnode.pdf',
        'c.pdf',
      ]);
      assert.equal((await sh(`cat '${mountpoint}/vfs/pdfs/c.pdf'`)).out, 'pdf c (nas)');
      const same = await sh(`stat -c %i '${mountpoint}/vfs/pdfs/a.pdf' '${mountpoint}/vfs/pdfs/a.pdf'`);
      const [i1, i2] = same.out.trim().split('\n');
      assert.equal(i1, i2);
      assert.notEqual((await sh(`touch '${mountpoint}/vfs/pdfs/new.pdf'`)).code, 0, 'read-only');
    } finally {
      await stopMount(m);
      await forceUnmount(mountpoint);
    }
  });
});
