/**
 * A Tessera node in a process of its own, for benchmarks (the peers it is compared with run
 * in their own processes too), serving what `tessera serve` serves: the protocol and the
 * default HTTP surfaces (WebDAV at /dav/). Prints one JSON line `{ url, fingerprint }` on stdout once
 * listening; stops cleanly on SIGTERM/SIGINT, and on its own if its parent goes away.
 *
 *   node --import tsx bench/lib/peers/tessera-serve.ts --home DIR [--insecure]
 */
import { createLogger } from '../../../src/core/log.ts';
import { defaultSurfaces } from '../../../src/frontends/default-surfaces.ts';
import { createNode } from '../../../src/node/node.ts';

const argv = process.argv.slice(2);
const homeAt = argv.indexOf('--home');
const home = homeAt >= 0 ? argv[homeAt + 1] : undefined;
if (
  home === undefined ||
  argv.some((a, i) => a.startsWith('--') && a !== '--home' && a !== '--insecure' && i !== homeAt + 1)
) {
  process.stderr.write('usage: tessera-serve.ts --home DIR [--insecure]\n');
  process.exit(22);
}
const node = await createNode({
  home,
  listen: '127.0.0.1:0',
  insecure: argv.includes('--insecure'),
  logger: createLogger({ level: 'warn' }),
  // What `tessera serve` serves beside the protocol (WebDAV at /dav/).
  surfaces: defaultSurfaces,
});
process.stdout.write(`${JSON.stringify({ url: node.url, fingerprint: node.fingerprint ?? null })}\n`);

const parent = process.ppid;
let stopping = false;
const stop = () => {
  if (stopping) return;
  stopping = true;
  clearInterval(orphanCheck);
  void node.close().then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`close failed: ${(err as Error).message}\n`);
      process.exit(1);
    },
  );
};
// A benchmark killed with SIGKILL cannot stop its children: notice and leave.
const orphanCheck = setInterval(() => {
  try {
    process.kill(parent, 0);
  } catch {
    stop();
  }
}, 1000);
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
