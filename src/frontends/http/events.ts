import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import type { NodeId } from '../../core/ids.ts';
import { childPath } from '../../core/names.ts';
import type { Logger } from '../../core/log.ts';
import { isPrefix } from '../../namespace/mount-table.ts';
import { readdirPages } from '../../sources/readdir-pages.ts';
import type { Invalidation, Source } from '../../sources/source.ts';
import { type PathIndex, resolvePath } from './paths.ts';

/** A comment line this often keeps proxies and clients from timing the stream out. */
const HEARTBEAT_MS = 15_000;
/** Entries the subscription walks below its prefix to learn their paths. */
const WALK_MAX = 20_000;
/** A client this far behind (bytes queued) is cut off; it reconnects and lists again. */
const MAX_BACKLOG = 4 * 1024 * 1024;

/** One change as the event stream sends it (`data:` of an `event: change`). */
export const changeEventSchema = z.object({
  kind: z
    .enum(['entry', 'data', 'attr', 'tree'])
    .describe(
      'entry: a name in a directory appeared, vanished or was replaced; data/attr: content or attributes changed; tree: anything below may have changed',
    ),
  path: z
    .string()
    .nullable()
    .describe('the namespace path concerned, null when the node does not know it (see docs/api.md)'),
  id: z.string().optional().describe('data/attr/tree: the id concerned'),
  parent: z.string().optional().describe('entry: the id of the directory'),
  name: z.string().optional().describe('entry: the name in that directory'),
});

/** One change as the event stream sends it. */
export type ChangeEvent = z.infer<typeof changeEventSchema>;

/** Map an invalidation to a change event with the path the index knows. */
export function changeOf(ev: Invalidation, index: PathIndex): ChangeEvent {
  if (ev.kind === 'entry') {
    const dir = index.pathOf(ev.parent);
    return {
      kind: 'entry',
      path: dir === undefined ? null : childPath(dir, ev.name),
      parent: ev.parent.toString(),
      name: ev.name,
    };
  }
  return { kind: ev.kind, path: index.pathOf(ev.id) ?? null, id: ev.id.toString() };
}

/** Whether a subscriber to `prefix` gets this change. */
export function concerns(change: ChangeEvent, prefix: string): boolean {
  if (prefix === '/') return true;
  if (change.path === null) return false;
  // A tree event above the prefix covers it too.
  return isPrefix(prefix, change.path) || (change.kind === 'tree' && isPrefix(change.path, prefix));
}

/**
 * Serve a Server-Sent Events stream of the namespace changes a principal may see below
 * `prefix`. Invalidations carry ids; each is sent with the path the API knows for it: paths of
 * everything resolved or listed through the API, of everything below the prefix (walked when
 * the stream starts, up to {@link WALK_MAX} entries) and of directories created while the
 * stream runs. Resolves when the stream ends (client gone, `stop`, or too far behind).
 */
export async function serveEvents(opts: {
  req: IncomingMessage;
  res: ServerResponse;
  source: Source;
  prefix: string;
  index: PathIndex;
  logger: Logger;
  /** Resolves when the stream must end (the surface closes). */
  stop: Promise<void>;
}): Promise<void> {
  const { res, source, index } = opts;
  const root = await resolvePath({ source, path: opts.prefix, op: 'events', index });
  const prefix = root.path;
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-store',
    'x-accel-buffering': 'no',
    connection: 'keep-alive',
  });
  let seq = 0;
  let ended = false;
  let finish: () => void = () => undefined;
  const finished = new Promise<void>((resolve) => (finish = resolve));
  const end = () => {
    if (ended) return;
    ended = true;
    finish();
  };
  const send = (event: string, data: unknown) => {
    if (ended) return;
    res.write(`id: ${++seq}\nevent: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    if (res.writableLength > MAX_BACKLOG) {
      opts.logger.warn('event stream too far behind; closing it', { prefix });
      res.destroy();
      end();
    }
  };
  // Changes go out in order through one queue; a new entry's id is learned (one lookup)
  // before its change is sent, so a client that reacts to it sees paths inside it too.
  let queue = Promise.resolve();
  const unwatch = source.watch((ev) => {
    const change = changeOf(ev, index);
    if (!concerns(change, prefix)) return;
    queue = queue.then(async () => {
      if (ev.kind === 'entry' && change.path !== null) {
        const entry = await source.lookup({ parent: ev.parent, name: ev.name }).catch(() => undefined);
        if (entry !== undefined) index.remember(entry.id, change.path);
      }
      send('change', change);
    });
  });
  const heartbeat = setInterval(() => {
    if (!ended) res.write(': ping\n\n');
  }, HEARTBEAT_MS);
  heartbeat.unref();
  res.on('close', end);
  void opts.stop.then(end);
  send('ready', { prefix });
  void walk({ source, index, root: { id: root.id, path: prefix }, kind: root.attr.kind, ended: () => ended });
  try {
    await finished;
  } finally {
    clearInterval(heartbeat);
    unwatch();
    if (!res.destroyed) res.end();
  }
}

/** Learn the paths of what is below `root` (breadth first, bounded). */
async function walk(opts: {
  source: Source;
  index: PathIndex;
  root: { id: NodeId; path: string };
  kind: string;
  ended: () => boolean;
}): Promise<void> {
  if (opts.kind !== 'dir') return;
  const queue = [opts.root];
  let seen = 0;
  while (queue.length > 0 && seen < WALK_MAX && !opts.ended()) {
    const dir = queue.shift()!;
    try {
      for await (const entries of readdirPages({ source: opts.source, dir: dir.id, max: 1000 })) {
        for (const e of entries) {
          const path = childPath(dir.path, e.name);
          opts.index.remember(e.id, path);
          if (e.attr.kind === 'dir') queue.push({ id: e.id, path });
          seen++;
        }
        if (seen >= WALK_MAX || opts.ended()) break;
      }
    } catch {
      // A directory that vanished or may not be listed: its paths stay unknown.
    }
  }
}
