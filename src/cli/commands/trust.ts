import { connect as tlsConnect } from 'node:tls';
import { FsError } from '../../core/fs-error.ts';
import { hostPortOf } from '../../client/connection.ts';
import { KnownNodes } from '../../client/known-nodes.ts';
import { parseCommandArgs, usageError } from '../args.ts';
import { HOME_OPTION_HELP, homeRootOf, type Command } from '../command.ts';
import { knownNodesFile, normalizeNodeUrl } from '../remote/connect.ts';

/** `AA:BB:…` (32 bytes) from that form or 64 hex digits, any case; undefined if neither. */
export function normalizeFingerprint(text: string): string | undefined {
  const hex = text
    .replace(/^sha256:/i, '')
    .replace(/:/g, '')
    .toUpperCase();
  if (!/^[0-9A-F]{64}$/.test(hex)) return undefined;
  if (text.includes(':') && !/^(sha256:)?[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){31}$/.test(text)) return undefined;
  return hex.match(/../g)!.join(':');
}

/** The SHA-256 fingerprint of the certificate a TLS server presents (nothing else is sent). */
export async function presentedFingerprint(opts: { url: string; timeoutMs?: number }): Promise<string> {
  const url = new URL(opts.url);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const port = Number(url.port || 443);
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({
      host,
      port,
      servername: /^[\d.]+$|:/.test(host) ? undefined : host,
      rejectUnauthorized: false,
      minVersion: 'TLSv1.3',
    });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(FsError.ETIMEDOUT('trust', opts.url, 'no TLS handshake within the time limit'));
    }, opts.timeoutMs ?? 10_000);
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      const fp = socket.getPeerCertificate().fingerprint256;
      socket.end();
      if (!fp) reject(FsError.EPROTO('trust', opts.url, 'the server presented no certificate'));
      else resolve(fp);
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      const e = FsError.from(err, 'trust', opts.url);
      reject(
        e.code === 'ECONNREFUSED'
          ? new FsError({
              code: 'ECONNREFUSED',
              op: 'trust',
              path: opts.url,
              message: `ECONNREFUSED: nothing answers at ${opts.url}; is the node running? start it with 'tessera serve'`,
            })
          : e,
      );
    });
  });
}

/** `tessera trust`: pin (or forget) a node's certificate. */
export const trustCommand: Command = {
  name: 'trust',
  summary: "pin a node's TLS certificate (or forget it with --remove)",
  help: `Usage: tessera trust URL [--fingerprint FP] [--home DIR]
       tessera trust --remove URL [--home DIR]

Nodes are trusted on first use: the first connection pins the SHA-256 fingerprint of the
node's certificate in the home's known_nodes.json, and a different certificate later is
refused. When a node's certificate changed on purpose, pin the new one here.

  trust URL --fingerprint FP   pin FP for URL (AA:BB:… or 64 hex digits); from now on only
                               that certificate is accepted. No connection is made.
  trust URL                    connect, and pin whatever certificate the node presents now
                               (printed: compare it with 'tessera status' on the node)
  trust --remove URL           forget the pin (the next connection pins again)

Options:
  --fingerprint FP  the fingerprint to accept
  --remove          forget the pin of URL
${HOME_OPTION_HELP}
`,
  async run({ io, argv }) {
    const { values, positionals } = parseCommandArgs({
      command: 'trust',
      argv,
      options: { fingerprint: { type: 'string' }, remove: { type: 'boolean' } },
      positionals: ['URL'],
    });
    if (values.help === true) {
      io.out(this.help);
      return 0;
    }
    const url = normalizeNodeUrl(positionals[0]!);
    if (url.startsWith('ws://'))
      throw FsError.EINVAL(
        'trust',
        url,
        'a ws:// node (started with --insecure) has no certificate to trust',
      );
    const hostPort = hostPortOf(url);
    const known = new KnownNodes(knownNodesFile(homeRootOf({ io, home: values.home })));
    if (values.remove === true) {
      if (values.fingerprint !== undefined)
        throw usageError({ command: 'trust', problem: '--remove takes no --fingerprint' });
      if (!(await known.remove(hostPort)))
        throw FsError.ENOENT('trust', hostPort, `no certificate is pinned for it in ${known.file}`);
      io.out(`forgot the certificate of ${hostPort}\n`);
      return 0;
    }
    let fingerprint: string;
    if (values.fingerprint !== undefined) {
      const fp = normalizeFingerprint(values.fingerprint);
      if (fp === undefined)
        throw FsError.EINVAL(
          'trust',
          values.fingerprint,
          'a fingerprint is 32 bytes of hex, AA:BB:… (SHA-256)',
        );
      fingerprint = fp;
    } else {
      fingerprint = await presentedFingerprint({ url });
    }
    const before = await known.get(hostPort);
    await known.set(hostPort, fingerprint);
    io.out(
      `pinned ${hostPort} ${fingerprint}` +
        (before === undefined ? '' : before === fingerprint ? ' (unchanged)' : ` (was ${before})`) +
        '\n',
    );
    return 0;
  },
};
