import assert from 'node:assert/strict';
import { closeSync, fstatSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { LocalFd } from '../../src/sources/local/local-fd.ts';
import { localDirs } from './local-helpers.ts';

describe('LocalFd', () => {
  it('reads, writes, stats, truncates and closes once, after the calls in flight', async () => {
    using dirs = localDirs();
    const dir = dirs.root;
    const f = await LocalFd.open(join(dir, 'a'), 'w+', 0o600);
    const fd = f.fd;
    assert.equal(await f.write(Buffer.from('hello world'), 0, 11, 0), 11);
    assert.equal(await f.writev([Buffer.from('HE'), Buffer.from('LLO')], 0), 5);
    const buf = Buffer.alloc(11);
    const reading = f.read(buf, 0, 11, 0);
    const closing = f.close(); // waits for the read
    assert.equal(await reading, 11);
    assert.equal(buf.toString(), 'HELLO world');
    await closing;
    await f.close();
    assert.equal(f.fd, -1);
    assert.throws(() => fstatSync(fd), /EBADF/);
    await assert.rejects(f.stat(), { code: 'EBADF', syscall: 'fstat' });

    const g = await LocalFd.open(join(dir, 'a'), 'r+');
    await g.truncate(5);
    assert.equal((await g.stat()).size, 5n);
    await g.chmod(0o640);
    assert.equal(Number((await g.stat()).mode) & 0o777, 0o640);
    await g.datasync();
    await g.close();
    assert.equal(readFileSync(join(dir, 'a'), 'utf8'), 'HELLO');
  });

  it('lends its descriptor to a job: refused meanwhile, then given back or used up', async () => {
    using dirs = localDirs();
    const dir = dirs.root;
    const f = await LocalFd.open(join(dir, 'b'), 'w+');
    const pending = f.stat();
    assert.throws(() => f.lend(), { code: 'EBADF' }, 'not while a call is in flight');
    await pending;
    const fd = f.lend();
    await assert.rejects(f.read(Buffer.alloc(1), 0, 1, 0), { code: 'EBADF' });
    await f.close(); // while lent: closed once given back
    assert.ok(fstatSync(fd).isFile(), 'the job still has it');
    f.giveBack();
    await f.close(); // the close that giving back started
    assert.throws(() => fstatSync(fd), /EBADF/);

    const g = await LocalFd.open(join(dir, 'c'), 'w+');
    const gfd = g.lend();
    g.giveBack();
    assert.equal(await g.write(Buffer.from('x'), 0, 1, 0), 1);
    g.lend();
    fstatSync(gfd);
    closeSync(gfd); // what the job does
    g.usedUp();
    await g.close(); // nothing left to close
    assert.equal(g.fd, -1);
  });
});
