import { listenProblem } from '../../core/config.ts';
import { defaultSurfaces } from '../../frontends/default-surfaces.ts';
import { createNode } from '../../node/node.ts';
import { parseCommandArgs, usageError } from '../args.ts';
import { HOME_OPTION_HELP, homeRootOf, type Command } from '../command.ts';
import { untilSignal } from '../signals.ts';

/** `tessera serve`: run the node's server until SIGINT/SIGTERM. */
export const serveCommand: Command = {
  name: 'serve',
  summary: "serve this node's namespace (protocol over TLS) until stopped",
  help: `Usage: tessera serve [--listen HOST:PORT] [--insecure] [--home DIR]

Serve this node's namespace: every export at /<name>, over the Tessera protocol (a WebSocket
at /tessera), WebDAV (at /dav/, HTTP Basic with a credential's key id and secret) and the REST
API (/api/v1/, /health, /metrics; docs/api.md) on one address. TLS 1.3 with a certificate
from the node's own CA (made at 'tessera init'); clients pin its fingerprint, printed here. When ready, prints the URL and
records it in the home (runtime.json) so local commands find the node. SIGINT or SIGTERM
stops it gracefully: sessions get a goodbye, requests in flight finish, files still being
written are discarded (never left half-written), then it exits 0.

Options:
  --listen HOST:PORT  address to listen on (default: [server] listen in tessera.toml);
                      port 0 picks a free port; IPv6 as [::1]:7420
  --insecure          plain ws:// without TLS (only for trusted networks and tests)
${HOME_OPTION_HELP}
`,
  async run({ io, argv }) {
    const { values } = parseCommandArgs({
      command: 'serve',
      argv,
      options: { listen: { type: 'string' }, insecure: { type: 'boolean' } },
    });
    if (values.help === true) {
      io.out(this.help);
      return 0;
    }
    if (values.listen !== undefined) {
      const problem = listenProblem(values.listen);
      if (problem !== undefined) throw usageError({ command: 'serve', problem: `--listen: ${problem}` });
    }
    const stop = untilSignal({ io, command: 'serve' });
    let node;
    try {
      node = await createNode({
        home: homeRootOf({ io, home: values.home }),
        listen: values.listen,
        insecure: values.insecure === true,
        surfaces: defaultSurfaces,
      });
    } catch (err) {
      stop.cancel();
      throw err;
    }
    io.out(`tessera: serving ${node.nodeName} at ${node.url}\n`);
    io.out(
      node.fingerprint === undefined
        ? 'tessera: WARNING: plain ws:// without TLS (--insecure)\n'
        : `tessera: certificate fingerprint ${node.fingerprint}\n`,
    );
    const signal = await stop.signal;
    io.err(`tessera: ${signal}: stopping ${node.nodeName}\n`);
    await node.close();
    io.err('tessera: stopped\n');
    return 0;
  },
};
