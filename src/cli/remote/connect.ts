import { join } from 'node:path';
import { FsError } from '../../core/fs-error.ts';
import { type Credential, hostPortOf, type Trust } from '../../client/connection.ts';
import { KnownNodes } from '../../client/known-nodes.ts';
import { RemoteSource } from '../../client/remote-source.ts';
import { readOwnerCredential } from '../../node/credentials.ts';
import { readRuntime } from '../../node/runtime.ts';
import { usageError } from '../args.ts';
import { homeRootOf } from '../command.ts';
import type { CliIO } from '../io.ts';
import { RemoteFs } from './remote-fs.ts';

/** Options of every command that talks to a node. */
export const REMOTE_OPTIONS = {
  node: { type: 'string' },
  credential: { type: 'string' },
} as const;

/** Help lines for {@link REMOTE_OPTIONS}. */
export const REMOTE_OPTION_HELP = `  --node URL       the node (wss://host:port; default: $TESSERA_NODE, else the home's
                   running node)
  --credential ID:SECRET
                   access key for --node (default: $TESSERA_CREDENTIAL, else the home's
                   owner credential)`;

/** The file of certificate pins in a home. */
export function knownNodesFile(home: string): string {
  return join(home, 'known_nodes.json');
}

/**
 * A node URL as users type it: `wss://host:port[/tessera]`, `ws://…`, or a bare `host:port`
 * (taken as `wss://`). The protocol path is added when missing.
 */
export function normalizeNodeUrl(text: string): string {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `wss://${text}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw FsError.EINVAL('connect', text, 'not a node URL (expected wss://host:port)');
  }
  if (url.protocol !== 'wss:' && url.protocol !== 'ws:')
    throw FsError.EINVAL('connect', text, 'a node URL starts with wss:// (or ws:// for an --insecure node)');
  if (url.pathname === '/' || url.pathname === '') url.pathname = '/tessera';
  return url.toString();
}

/** `ID:SECRET` → a credential (the secret may itself contain ':'). */
export function parseCredential(opts: { text: string; command: string }): Credential {
  const at = opts.text.indexOf(':');
  const id = at < 0 ? '' : opts.text.slice(0, at);
  const secret = at < 0 ? '' : opts.text.slice(at + 1);
  if (id === '' || secret === '')
    throw usageError({
      command: opts.command,
      problem: 'a credential is ID:SECRET (as credentials create printed it)',
    });
  return { id, secret };
}

/** Where to connect and how: the outcome of CLI options, environment and home. */
export interface RemoteTarget {
  url: string;
  credential: Credential;
  trust: Trust;
  /** The home whose files (pins, owner credential) are used. */
  home: string;
  /** Whether this is the home's own running node (reached without --node). */
  ownNode: boolean;
}

function nothingRunning(home: string): FsError {
  return new FsError({
    code: 'ECONNREFUSED',
    op: 'connect',
    path: home,
    message: `ECONNREFUSED: no node is running for the home '${home}'; is the node running? start it with 'tessera serve'`,
  });
}

/**
 * Decide the node, credential and trust of a command. With `--node` (or `TESSERA_NODE`) the
 * credential comes from `--credential` (or `TESSERA_CREDENTIAL`) and the certificate is
 * pinned in the home's `known_nodes.json` on first contact. Without, the home's running node
 * (`runtime.json`) is used with the owner credential kept in the home, and its certificate
 * must be the one that node recorded there (the home is the user's own, like the credential).
 */
export async function resolveTarget(opts: {
  io: CliIO;
  command: string;
  values: { home?: string | undefined; node?: string | undefined; credential?: string | undefined };
}): Promise<RemoteTarget> {
  const { io, values } = opts;
  const home = homeRootOf({ io, home: values.home });
  const nodeText = values.node ?? (io.env.TESSERA_NODE || undefined);
  const credText = values.credential ?? (io.env.TESSERA_CREDENTIAL || undefined);
  const explicit =
    credText === undefined ? undefined : parseCredential({ text: credText, command: opts.command });
  if (nodeText === undefined) {
    const runtime = await readRuntime({ home });
    if (runtime === undefined) throw nothingRunning(home);
    const credential = explicit ?? (await readOwnerCredential({ home }));
    const trust: Trust =
      runtime.fingerprint === undefined
        ? { knownNodes: new KnownNodes(knownNodesFile(home)) }
        : { fingerprint: runtime.fingerprint };
    return { url: runtime.url, credential, trust, home, ownNode: true };
  }
  const url = normalizeNodeUrl(nodeText);
  let credential = explicit;
  let ownNode = false;
  if (credential === undefined) {
    // The owner credential only means something to the home's own node.
    const runtime = await readRuntime({ home });
    if (runtime === undefined || normalizeNodeUrl(runtime.url) !== url) {
      throw usageError({
        command: opts.command,
        problem: '--node needs --credential ID:SECRET (or $TESSERA_CREDENTIAL)',
      });
    }
    credential = await readOwnerCredential({ home });
    ownNode = true;
  }
  return { url, credential, trust: { knownNodes: new KnownNodes(knownNodesFile(home)) }, home, ownNode };
}

/** Say which connect failures mean "nobody is there", with the way out. */
function connectFailure(err: unknown, url: string): FsError {
  const e = FsError.from(err, 'connect', url);
  if (e.code !== 'ECONNREFUSED') return e;
  return new FsError({
    code: 'ECONNREFUSED',
    op: 'connect',
    path: url,
    message: `ECONNREFUSED: nothing answers at ${url}; is the node running? start it with 'tessera serve'`,
    retryable: true,
    cause: e,
  });
}

/**
 * Connect to a target and open a RemoteSource over it. Prints a one-line note on stderr when
 * a certificate is pinned for the first time.
 */
export async function openRemote(opts: {
  io: CliIO;
  target: RemoteTarget;
  timeoutMs?: number | undefined;
}): Promise<RemoteSource> {
  const { target } = opts;
  const pinnedBefore =
    'knownNodes' in target.trust ? await target.trust.knownNodes.get(hostPortOf(target.url)) : undefined;
  const source = new RemoteSource({
    connect: {
      url: target.url,
      credential: target.credential,
      trust: target.trust,
      client: 'tessera-cli',
      timeoutMs: opts.timeoutMs,
    },
  });
  try {
    await source.open();
  } catch (err) {
    throw connectFailure(err, target.url);
  }
  const fingerprint = source.connection.fingerprint;
  if ('knownNodes' in target.trust && pinnedBefore === undefined && fingerprint !== undefined) {
    opts.io.err(
      `tessera: note: first contact with ${hostPortOf(target.url)}: pinned its certificate ${fingerprint} in ${target.trust.knownNodes.file}\n`,
    );
  }
  return source;
}

/**
 * A node shows every export read-only to a credential without `write`, so the client refuses
 * writes itself with `EROFS`; tell the user what it really is: the credential may not write.
 */
function credentialRefusal(err: unknown, source: RemoteSource): unknown {
  if (!FsError.is(err, 'EROFS') || source.connection.session.caps.can_write !== false) return err;
  const principal = source.connection.session.principal;
  return new FsError({
    code: 'EACCES',
    op: err.op,
    path: err.path,
    detail: `credential ${principal} may not write (it has no write capability)`,
    cause: err,
  });
}

/**
 * Run `fn` with a connected {@link RemoteFs} for a command's options, and end the session
 * afterwards (gracefully; a session already dropped is left as is).
 */
export async function withRemote<T>(
  opts: {
    io: CliIO;
    command: string;
    values: { home?: string | undefined; node?: string | undefined; credential?: string | undefined };
  },
  fn: (fs: RemoteFs) => Promise<T>,
): Promise<T> {
  const target = await resolveTarget(opts);
  const source = await openRemote({ io: opts.io, target });
  const fs = new RemoteFs({ source, command: opts.command });
  try {
    return await fn(fs);
  } catch (err) {
    throw credentialRefusal(err, source);
  } finally {
    await source.close().catch(() => undefined);
  }
}
