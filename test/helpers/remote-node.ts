// A node on loopback serving a linux and/or memory export, and a RemoteSource session to it:
// the remote conformance runs and the client cache's runs share these.
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { addExport, initHome } from '../../src/core/home.ts';
import { createLogger } from '../../src/core/log.ts';
import { RemoteSource } from '../../src/client/remote-source.ts';
import { ensureOwnerCredential, readOwnerCredential } from '../../src/node/credentials.ts';
import { createNode, type TesseraNode } from '../../src/node/node.ts';
import type { VersionRange } from '../../src/protocol/version.ts';
import { CHEAP_ARGON2 } from './argon2.ts';

export { CHEAP_ARGON2 };

/** A node on 127.0.0.1:0 with a fresh home exporting `dir` (linux, as `/disk`) and/or memory (`/mem`). */
export async function startNode(opts: {
  dir?: string;
  ro?: boolean;
  memory?: boolean;
}): Promise<{ node: TesseraNode; home: string }> {
  const home = await mkdtemp(join(tmpdir(), 'tessera-remote-home-'));
  await initHome({ root: home, name: 'conformance' });
  if (opts.memory)
    await addExport({
      root: home,
      entry: { name: 'mem', kind: 'memory', path: '', ro: false, desc: '', options: {} },
    });
  if (opts.dir) {
    await addExport({
      root: home,
      entry: { name: 'disk', kind: 'linux', path: opts.dir, ro: opts.ro ?? false, desc: '', options: {} },
    });
  }
  await ensureOwnerCredential({ home, argon2: CHEAP_ARGON2 });
  const node = await createNode({
    home,
    listen: '127.0.0.1:0',
    logger: createLogger({ level: 'silent' }),
    argon2: CHEAP_ARGON2,
  });
  return { node, home };
}

/**
 * An open RemoteSource session to `node` with the home's owner credential; `versions` narrows
 * the protocol versions it offers (to speak like an older client).
 */
export async function connect(
  node: TesseraNode,
  home: string,
  opts: { versions?: VersionRange; sealed?: boolean; url?: string } = {},
): Promise<RemoteSource> {
  const credential = await readOwnerCredential({ home });
  const src = new RemoteSource({
    connect: {
      url: opts.url ?? node.url,
      credential: { id: credential.id, secret: credential.secret },
      trust: { fingerprint: node.fingerprint! },
      versions: opts.versions,
      sealed: opts.sealed,
    },
  });
  await src.open();
  return src;
}
