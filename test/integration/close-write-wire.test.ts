// A close carrying the file's last write over the wire: one CLOSE request from protocol
// version 2, and WRITE + CLOSE as before for a session restricted to version 1 (what an older
// node accepts: its strict CLOSE schema refuses the new `offset` field).
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import type { TesseraNode } from '../../src/node/node.ts';
import { PROTOCOL_VERSION } from '../../src/protocol/version.ts';
import { readFile } from '../conformance/helpers.ts';
import { connect, startNode } from '../helpers/remote-node.ts';

/** Requests of `op` the node has answered so far. */
function answered(node: TesseraNode, op: string): number {
  const m = new RegExp(`^tessera_rpc_duration_seconds_count\\{op="${op}"\\} (\\d+)$`, 'm').exec(
    node.metrics.prometheusText(),
  );
  return m ? Number(m[1]) : 0;
}

describe('close with the last write over the wire', () => {
  let node: TesseraNode;
  let home: string;
  before(async () => {
    ({ node, home } = await startNode({ memory: true }));
  });
  after(async () => {
    await node.close();
    await rm(home, { recursive: true, force: true });
  });

  for (const version of [PROTOCOL_VERSION, 1]) {
    it(`version ${version}: ${version >= 2 ? 'one CLOSE carries the bytes' : 'WRITE then CLOSE'}`, async () => {
      await using src = await connect(node, home, { versions: { min: 1, max: version } });
      assert.equal(src.connection.session.version, version);
      const root = (await src.listExports()).find((e) => e.name === '/mem')!.root;
      const created = await src.create({ parent: root, name: `v${version}`, mode: 0o644 });
      const [writes, closes] = [answered(node, 'WRITE'), answered(node, 'CLOSE')];
      await src.closeFile({ handle: created.handle, write: { offset: 0, data: Buffer.from('last') } });
      assert.equal(answered(node, 'WRITE') - writes, version >= 2 ? 0 : 1);
      assert.equal(answered(node, 'CLOSE') - closes, 1);
      const f = await src.lookup({ parent: root, name: `v${version}` });
      assert.equal((await readFile(src, f.id)).toString(), 'last');
    });
  }
});
