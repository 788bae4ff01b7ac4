// Conditional and range requests as every HTTP front-end reads them (WebDAV and the REST API).
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { describe, it } from 'node:test';
import type { Attr } from '../../src/core/attr.ts';
import { etagOf, httpDateOf, preconditions, requestedRange } from '../../src/frontends/http-conditions.ts';
import type { Entry } from '../../src/sources/source.ts';

const mtimeNs = BigInt(Date.UTC(2024, 4, 1, 12, 0, 0, 500)) * 1_000_000n;
const attr: Attr = {
  kind: 'file',
  mode: 0o644,
  nlink: 1,
  uid: 0,
  gid: 0,
  size: 100,
  atimeNs: mtimeNs,
  mtimeNs,
  ctimeNs: mtimeNs,
  gen: 3,
};
const entry: Entry = { id: 0x1_0000_0000_002an, attr };

/** A request carrying only `headers` (all these functions read). */
const req = (headers: Record<string, string>) => ({ headers }) as unknown as IncomingMessage;

describe('HTTP conditions', () => {
  it('gives every version its own entity tag', () => {
    const etag = etagOf(entry);
    assert.match(etag, /^"[0-9a-f-]+"$/);
    assert.notEqual(etagOf({ id: entry.id, attr: { ...attr, gen: 4 } }), etag);
    assert.notEqual(etagOf({ id: entry.id, attr: { ...attr, size: 101 } }), etag);
    assert.notEqual(etagOf({ id: entry.id, attr: { ...attr, mtimeNs: mtimeNs + 1n } }), etag);
    assert.notEqual(etagOf({ id: entry.id + 1n, attr }), etag);
  });

  it('answers 304 to a read whose If-None-Match or If-Modified-Since holds', () => {
    const etag = etagOf(entry);
    const read = (headers: Record<string, string>) => preconditions({ req: req(headers), entry, read: true });
    assert.equal(read({}).status, 200);
    assert.equal(read({ 'if-none-match': etag }).status, 304);
    assert.equal(read({ 'if-none-match': `"other", W/${etag}` }).status, 304, 'weak comparison');
    assert.equal(read({ 'if-none-match': '"other"' }).status, 200);
    assert.equal(read({ 'if-modified-since': httpDateOf(entry) }).status, 304, 'same second');
    assert.equal(read({ 'if-modified-since': 'Tue, 30 Apr 2024 00:00:00 GMT' }).status, 200);
    assert.equal(read({ 'if-modified-since': 'not a date' }).status, 200);
    // If-None-Match decides alone when both are sent.
    assert.equal(read({ 'if-none-match': '"other"', 'if-modified-since': httpDateOf(entry) }).status, 200);
    assert.equal(read({ 'if-match': '"other"' }).status, 412);
  });

  it('refuses a write whose If-Match or If-None-Match fails (412)', () => {
    const etag = etagOf(entry);
    const write = (headers: Record<string, string>, target: Entry | 'none' = entry) =>
      preconditions({ req: req(headers), entry: target === 'none' ? undefined : target, read: false });
    assert.equal(write({ 'if-match': etag }).status, 200);
    assert.equal(write({ 'if-match': '*' }).status, 200);
    assert.equal(write({ 'if-match': '"other"' }).status, 412);
    assert.equal(write({ 'if-match': '*' }, 'none').status, 412, 'If-Match needs a current version');
    assert.equal(write({ 'if-none-match': '*' }).status, 412, 'create only');
    assert.equal(write({ 'if-none-match': '*' }, 'none').status, 200);
    assert.equal(write({ 'if-none-match': etag }).status, 412);
    // A write never answers 304, whatever If-Modified-Since says.
    assert.equal(write({ 'if-modified-since': httpDateOf(entry) }).status, 200);
  });

  it('applies a Range only while If-Range still names the version', () => {
    const range = (headers: Record<string, string>) => requestedRange(req(headers), entry);
    assert.equal(range({}), undefined);
    assert.deepEqual(range({ range: 'bytes=10-19' }), { start: 10, end: 20 });
    assert.deepEqual(range({ range: 'BYTES=10-19' }), { start: 10, end: 20 });
    assert.deepEqual(range({ range: 'bytes=10-19', 'if-range': etagOf(entry) }), { start: 10, end: 20 });
    assert.deepEqual(range({ range: 'bytes=10-19', 'if-range': httpDateOf(entry) }), { start: 10, end: 20 });
    assert.equal(range({ range: 'bytes=10-19', 'if-range': '"old"' }), undefined);
    assert.equal(range({ range: 'bytes=10-19', 'if-range': 'Tue, 30 Apr 2024 00:00:00 GMT' }), undefined);
    assert.equal(range({ range: 'bytes=100-' }), 'unsatisfiable');
  });
});
