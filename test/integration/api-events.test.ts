// REST API events: a Server-Sent Events stream of namespace changes below a prefix, with paths.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ApiClient, startApiWithOwner } from './api-harness.ts';

interface Change {
  kind: string;
  path: string | null;
  name?: string;
}

/** Read SSE events from a response body; `next` resolves to the next `change` matching `pred`. */
function sseReader(res: Response) {
  const reader = res.body!.getReader() as ReadableStreamDefaultReader<Uint8Array>;
  const decoder = new TextDecoder();
  let buffer = '';
  const events: { event: string; data: unknown }[] = [];
  const pump = async (): Promise<boolean> => {
    const { value, done } = await reader.read();
    if (done) return false;
    buffer += decoder.decode(value, { stream: true });
    let cut: number;
    while ((cut = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      const event = /^event: (.*)$/m.exec(block)?.[1];
      const data = /^data: (.*)$/m.exec(block)?.[1];
      if (event !== undefined && data !== undefined) events.push({ event, data: JSON.parse(data) });
    }
    return true;
  };
  return {
    events,
    async next(event: string, pred: (data: Change) => boolean = () => true): Promise<Change> {
      for (;;) {
        const i = events.findIndex((e) => e.event === event && pred(e.data as Change));
        if (i >= 0) return events.splice(i, 1)[0]!.data as Change;
        if (!(await pump())) throw new Error('stream ended');
      }
    },
    cancel: () => reader.cancel(),
  };
}

describe('REST API events', () => {
  let home: string;
  let base: string;
  let stop: () => Promise<void>;
  let api: ApiClient;

  before(async () => {
    ({ home, base, stop, api } = await startApiWithOwner());
  });
  after(() => stop());

  it('streams changes below a prefix with their paths, and nothing from elsewhere', async () => {
    // A directory that exists before the stream starts and was never listed through the API.
    await api.post('/api/v1/files/mkdir', { path: '/alpha/watched/old/deeper', parents: true });
    const res = await api.fetch('/api/v1/events?prefix=/alpha/watched');
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
    const sse = sseReader(res);
    assert.deepEqual(await sse.next('ready'), { prefix: '/alpha/watched' });

    await api.put('/beta/elsewhere.txt', 'not for this stream');
    await api.put('/alpha/watched/a.txt', 'a');
    const created = await sse.next('change', (c) => c.path === '/alpha/watched/a.txt');
    assert.equal(created.kind, 'entry');
    assert.equal(created.name, 'a.txt');

    // A change inside a directory the stream walked when it started.
    await api.put('/alpha/watched/old/deeper/b.txt', 'b');
    await sse.next('change', (c) => c.path === '/alpha/watched/old/deeper/b.txt');
    // A directory made while the stream runs: changes inside it get paths too.
    await api.post('/api/v1/files/mkdir', { path: '/alpha/watched/new' });
    await sse.next('change', (c) => c.path === '/alpha/watched/new');
    await api.put('/alpha/watched/new/c.txt', 'c');
    await sse.next('change', (c) => c.path === '/alpha/watched/new/c.txt');

    assert.ok(
      !sse.events.some((e) => {
        const p = (e.data as Change).path;
        return p === null || !p.startsWith('/alpha/watched');
      }),
      `only changes below the prefix: ${JSON.stringify(sse.events)}`,
    );
    await sse.cancel();
  });

  it('hides changes of exports the credential does not cover', async () => {
    const { client: scoped } = await ApiClient.forNew({ base, home, name: 'beta-only', exports: ['beta'] });
    const sse = sseReader(await scoped.fetch('/api/v1/events'));
    await sse.next('ready');
    await api.put('/alpha/private.txt', 'alpha');
    await api.put('/beta/public.txt', 'beta');
    const seen = await sse.next('change', (c) => c.path === '/beta/public.txt');
    assert.equal(seen.kind, 'entry');
    assert.ok(!sse.events.some((e) => JSON.stringify(e.data).includes('private')));
    await sse.cancel();
  });

  it('refuses a prefix that does not exist', async () => {
    const res = await api.fetch('/api/v1/events?prefix=/alpha/none');
    assert.equal(res.status, 404);
  });
});
