// The WebDAV surface's header and body parsers: If, Range, Timeout, X-OC-Mtime, Destination, XML.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FsError } from '../../src/core/fs-error.ts';
import { parseRange } from '../../src/frontends/http-conditions.ts';
import { parseIfHeader, submittedTokens } from '../../src/frontends/webdav/dav-if.ts';
import { ocMtimeOf } from '../../src/frontends/webdav/dav-put.ts';
import { DavLockManager, MAX_LOCK_SECONDS, parseTimeout } from '../../src/frontends/webdav/dav-locks.ts';
import { davPath, hrefOf, parseDavPath, parseDestination } from '../../src/frontends/webdav/dav-paths.ts';
import { parseXml, serializeXml, statusLine } from '../../src/frontends/webdav/dav-xml.ts';

const einval = (fn: () => unknown) => assert.throws(fn, (e: unknown) => FsError.is(e, 'EINVAL'));

describe('WebDAV parsers', () => {
  it('parses If headers: tagged lists, Not, entity tags', () => {
    const lists = parseIfHeader('<http://h/dav/a> (<urn:uuid:1> ["e1"]) (Not <DAV:no-lock>)');
    assert.deepEqual(lists, [
      {
        resource: 'http://h/dav/a',
        conditions: [
          { not: false, kind: 'token', value: 'urn:uuid:1' },
          { not: false, kind: 'etag', value: '"e1"' },
        ],
      },
      { resource: 'http://h/dav/a', conditions: [{ not: true, kind: 'token', value: 'DAV:no-lock' }] },
    ]);
    assert.deepEqual([...submittedTokens(lists)], ['urn:uuid:1', 'DAV:no-lock']);
    einval(() => parseIfHeader('(<urn:uuid:1>'));
    einval(() => parseIfHeader('()'));
    einval(() => parseIfHeader('garbage'));
  });

  it('parses single byte ranges and refuses unsatisfiable ones', () => {
    assert.deepEqual(parseRange('bytes=0-9', 100), { start: 0, end: 10 });
    assert.deepEqual(parseRange('bytes=90-', 100), { start: 90, end: 100 });
    assert.deepEqual(parseRange('bytes=-10', 100), { start: 90, end: 100 });
    assert.deepEqual(parseRange('bytes=50-500', 100), { start: 50, end: 100 });
    assert.equal(parseRange('bytes=100-', 100), 'unsatisfiable');
    assert.equal(parseRange('bytes=-3', 0), 'unsatisfiable', 'an empty file has no suffix');
    assert.equal(parseRange('bytes=0-1,5-6', 100), undefined, 'several ranges: the whole file');
    assert.equal(parseRange('items=0-1', 100), undefined);
  });

  it('caps lock timeouts and lets locks lapse', () => {
    assert.equal(parseTimeout('Second-30'), 30);
    assert.equal(parseTimeout('Infinite, Second-4100000000'), MAX_LOCK_SECONDS);
    assert.equal(parseTimeout('Second-99999999999'), MAX_LOCK_SECONDS);
    assert.equal(parseTimeout(undefined), 600);
    let now = 0;
    const locks = new DavLockManager({ now: () => now });
    const root = davPath(['a']);
    const base = { root, ownerXml: '', credentialId: 'c', timeoutSec: 10 } as const;
    const lock = locks.lock({ ...base, depth: 'infinity', scope: 'shared' });
    locks.lock({ ...base, depth: '0', scope: 'shared' });
    assert.throws(
      () => locks.lock({ ...base, depth: '0', scope: 'exclusive' }),
      (e: unknown) => FsError.is(e, 'EBUSY'),
    );
    assert.equal(locks.covering(davPath(['a', 'b'])).length, 1, 'the depth-infinity lock covers a member');
    assert.doesNotThrow(() =>
      locks.check({ path: davPath(['a', 'b']), tokens: new Set([lock.token]), credentialId: 'c' }),
    );
    assert.throws(
      () => locks.check({ path: davPath(['a', 'b']), tokens: new Set([lock.token]), credentialId: 'other' }),
      (e: unknown) => FsError.is(e, 'EBUSY'),
    );
    now = 10_001;
    assert.equal(locks.covering(root).length, 0);
  });

  it('reads X-OC-Mtime seconds, fractions to the nanosecond, and ignores anything else', () => {
    assert.equal(ocMtimeOf(' 981173106 '), 981_173_106_000_000_000n);
    assert.equal(ocMtimeOf('1.5'), 1_500_000_000n);
    assert.equal(ocMtimeOf('2.000000001'), 2_000_000_001n);
    assert.equal(ocMtimeOf(undefined), undefined);
    assert.equal(ocMtimeOf('-1'), undefined);
    assert.equal(ocMtimeOf('1e9'), undefined);
  });

  it('maps URL paths and hrefs both ways, refusing escapes', () => {
    const p = parseDavPath({ pathname: '/dav/a%20b/%E6%97%A5/', prefix: '/dav' });
    assert.deepEqual(p?.segments, ['a b', '日']);
    assert.equal(hrefOf({ prefix: '/dav', path: p, collection: true }), '/dav/a%20b/%E6%97%A5/');
    assert.equal(parseDavPath({ pathname: '/davx/a', prefix: '/dav' }), undefined);
    einval(() => parseDavPath({ pathname: '/dav/%2E%2E/x', prefix: '/dav' }));
    einval(() => parseDavPath({ pathname: '/dav/a%2Fb', prefix: '/dav' }));
    assert.deepEqual(parseDestination({ header: 'http://h:1/dav/x/y', prefix: '/dav' }).segments, ['x', 'y']);
    assert.throws(
      () => parseDestination({ header: 'http://h/other/x', prefix: '/dav' }),
      (e: unknown) => FsError.is(e, 'EXDEV'),
    );
  });

  it('parses XML with namespaces resolved, refusing DTDs and undeclared prefixes', () => {
    const el = parseXml(
      '<?xml version="1.0"?><D:a xmlns:D="DAV:"><z:b xmlns:z="urn:z" q="1&amp;2">x &#x41;</z:b></D:a>',
    );
    assert.equal(el.ns, 'DAV:');
    assert.equal(serializeXml(el.children[0]!), '<b xmlns="urn:z" q="1&amp;2">x A</b>');
    einval(() => parseXml('<!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>'));
    einval(() => parseXml('<p:a/>'));
    einval(() => parseXml('<a xmlns:p=""/>'));
    einval(() => parseXml('<a>&bogus;</a>'));
    einval(() => parseXml('<a></b>'));
  });

  it('names every status in multistatus answers, not only the common ones', () => {
    assert.equal(statusLine(424), 'HTTP/1.1 424 Failed Dependency');
    assert.equal(statusLine(507), 'HTTP/1.1 507 Insufficient Storage');
    assert.equal(statusLine(413), 'HTTP/1.1 413 Payload Too Large');
  });
});
