import { readFile } from 'node:fs/promises';
import { KnownNodes } from '../../client/known-nodes.ts';
import { mountPathOf, nameProblem } from '../../core/config.ts';
import { FsError } from '../../core/fs-error.ts';
import { openHome } from '../../core/home.ts';
import { joinPath, splitPath } from '../../core/names.ts';
import { mountsStatusFile, type MountStatus } from '../../node/mount-manager.ts';
import { addMountEntry, removeMountEntry } from '../../node/mount-admin.ts';
import { readRuntime } from '../../node/runtime.ts';
import { parseCommandArgs, usageError } from '../args.ts';
import { HOME_OPTION_HELP, homeRootOf, type Command } from '../command.ts';
import { formatTable } from '../io.ts';
import { knownNodesFile, openRemote, parseCredential } from '../remote/connect.ts';

/** `URL/EXPORT` → the node URL (protocol path `/tessera`) and the export path. */
export function parseMountTarget(text: string): { url: string; exportName: string } {
  let url: URL;
  try {
    url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `wss://${text}`);
  } catch {
    throw usageError({ command: 'mount', problem: `'${text}' is not URL/EXPORT (wss://host:port/export)` });
  }
  if (url.protocol !== 'wss:' && url.protocol !== 'ws:')
    throw usageError({
      command: 'mount',
      problem: 'the URL starts with wss:// (or ws:// for an --insecure node)',
    });
  const segments = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
  if (segments.length === 0)
    throw usageError({ command: 'mount', problem: `name the export: ${url.origin}/EXPORT` });
  return {
    url: `${url.protocol}//${url.host}/tessera`,
    exportName: joinPath(splitPath('mount', `/${segments.join('/')}`)),
  };
}

/** `tessera mount`. */
export const mountCommand: Command = {
  name: 'mount',
  summary: "mount another node's export into this node's namespace",
  help: `Usage: tessera mount [LOCALPATH] URL/EXPORT [--alias A] [--credential ID:SECRET] [--ro] [--rename exdev|copy] [--fingerprint FP] [--uncached] [--home DIR]

Mount export EXPORT of the node at URL into this node's namespace at LOCALPATH (default
/<alias>/<export>). The node is contacted once first: its certificate is pinned (or must
match --fingerprint), the credential must be accepted and the export must exist. The mount
is written to tessera.toml ([[mount]]), so it persists across restarts, and a running node
mounts it within a second. The credential's secret is kept in the home's
mount-credentials.json (mode 0600), never in the config and never printed.

Mounting the same export at the same LOCALPATH again from another URL adds that node as
another endpoint of the alias (a replica): reads fail over between them.

Options:
  --alias A        name of the endpoint group (default: the remote node's name)
  --credential ID:SECRET
                   access key on the remote node (required for a new endpoint)
  --ro             mount read-only
  --rename POLICY  exdev (default): a rename to another source fails with EXDEV;
                   copy: files are moved by copy + unlink (staged, never replacing)
  --fingerprint FP accept only this certificate (else pinned on first contact)
  --uncached       no client cache in front of the mount (docs/cache.md)
${HOME_OPTION_HELP}
`,
  async run({ io, argv }) {
    const { values, positionals } = parseCommandArgs({
      command: 'mount',
      argv,
      options: {
        alias: { type: 'string' },
        credential: { type: 'string' },
        ro: { type: 'boolean' },
        rename: { type: 'string' },
        fingerprint: { type: 'string' },
        uncached: { type: 'boolean' },
      },
      positionals: ['URL/EXPORT'],
      optionalPositionals: ['LOCALPATH'],
    });
    if (values.help === true) {
      io.out(this.help);
      return 0;
    }
    const home = homeRootOf({ io, home: values.home });
    const targetText = positionals.at(-1)!;
    const localText = positionals.length === 2 ? positionals[0] : undefined;
    const { url, exportName } = parseMountTarget(targetText);
    const rename = values.rename ?? 'exdev';
    if (rename !== 'exdev' && rename !== 'copy')
      throw usageError({ command: 'mount', problem: `--rename is exdev or copy, got '${rename}'` });
    if (values.credential === undefined)
      throw usageError({ command: 'mount', problem: '--credential ID:SECRET is needed to reach the node' });
    const credential = parseCredential({ text: values.credential, command: 'mount' });
    await openHome({ root: home });
    // Contact the node once: pin (or check) its certificate, check the credential and the export.
    const fingerprint = values.fingerprint?.toUpperCase();
    const source = await openRemote({
      io,
      target: {
        url,
        credential,
        trust: fingerprint ? { fingerprint } : { knownNodes: new KnownNodes(knownNodesFile(home)) },
        home,
        ownNode: false,
      },
    });
    let nodeName: string;
    try {
      const exports = await source.listExports();
      if (!exports.some((e) => e.name === exportName)) {
        const names = exports.filter((e) => e.name !== '/').map((e) => e.name);
        throw FsError.ENOENT(
          'mount',
          exportName,
          `the node has no such export (it has: ${names.join(', ') || 'none'})`,
        );
      }
      nodeName = source.connection.session.nodeName;
    } finally {
      await source.close().catch(() => undefined);
    }
    const alias = values.alias ?? nodeName;
    const problem = nameProblem(alias);
    if (problem !== undefined) throw usageError({ command: 'mount', problem: `alias ${problem}` });
    const path =
      localText === undefined
        ? undefined
        : joinPath(splitPath('mount', localText.startsWith('/') ? localText : `/${localText}`));
    const { added, path: wantedPath } = await addMountEntry({
      home,
      url,
      exportName,
      alias,
      path,
      ro: values.ro === true,
      rename,
      cache: values.uncached !== true,
      credential,
      fingerprint,
    });
    const what =
      added === 'endpoint'
        ? `added endpoint ${url} to ${wantedPath}`
        : added === 'again'
          ? `updated endpoint ${url} of ${wantedPath}`
          : `mounted ${alias}:${exportName} at ${wantedPath}`;
    const running = await readRuntime({ home });
    io.out(`${what}${running ? '' : " (takes effect when the node starts: 'tessera serve')"}\n`);
    return 0;
  },
};

/** `tessera unmount`. */
export const unmountCommand: Command = {
  name: 'unmount',
  summary: 'remove a remote mount',
  help: `Usage: tessera unmount LOCALPATH [--home DIR]

Remove the mount at LOCALPATH from tessera.toml (and the credentials only it used); a
running node unmounts it within a second (later, if files under it are open).
${HOME_OPTION_HELP}
`,
  async run({ io, argv }) {
    const { values, positionals } = parseCommandArgs({
      command: 'unmount',
      argv,
      options: {},
      positionals: ['LOCALPATH'],
    });
    if (values.help === true) {
      io.out(this.help);
      return 0;
    }
    const home = homeRootOf({ io, home: values.home });
    const text = positionals[0]!;
    const path = joinPath(splitPath('unmount', text.startsWith('/') ? text : `/${text}`));
    await removeMountEntry({ home, path });
    io.out(`unmounted ${path}\n`);
    return 0;
  },
};

/** `tessera mounts`. */
export const mountsCommand: Command = {
  name: 'mounts',
  summary: 'list remote mounts, which endpoint serves each, and their health',
  help: `Usage: tessera mounts [--json] [--home DIR]

List the mounts of tessera.toml. While the node runs, each shows its state, the endpoint
serving it, every endpoint's state, latency and recent errors, and the endpoint switches
(failovers) so far — as the node last recorded them (state/mounts.json).

Options:
  --json           one JSON document (an array of mounts)
${HOME_OPTION_HELP}
`,
  async run({ io, argv }) {
    const { values } = parseCommandArgs({ command: 'mounts', argv, options: { json: { type: 'boolean' } } });
    if (values.help === true) {
      io.out(this.help);
      return 0;
    }
    const home = homeRootOf({ io, home: values.home });
    const config = (await openHome({ root: home })).config;
    const running = await readRuntime({ home });
    const live = new Map<string, MountStatus>();
    if (running) {
      const text = await readFile(mountsStatusFile(home), 'utf8').catch(() => undefined);
      const parsed = text === undefined ? undefined : (JSON.parse(text) as { mounts?: MountStatus[] });
      for (const m of parsed?.mounts ?? []) live.set(m.path, m);
    }
    const rows = config.mount.map((m) => {
      const path = mountPathOf(m);
      const status = live.get(path);
      return {
        path,
        alias: m.alias,
        export: m.export,
        ro: m.ro,
        rename: m.rename,
        index: m.index,
        state: running ? (status?.state ?? 'pending') : 'node not running',
        serving: status?.serving,
        endpoints: status?.endpoints ?? m.endpoint.map((e) => ({ url: e.url, state: undefined })),
        switchCount: status?.switchCount ?? 0,
        switches: status?.switches ?? [],
        movedHandles: status?.movedHandles ?? 0,
        ...(status?.error ? { error: status.error } : {}),
      };
    });
    if (values.json === true) {
      io.out(`${JSON.stringify(rows, null, 2)}\n`);
      return 0;
    }
    if (rows.length === 0) {
      io.out("no mounts (add one with 'tessera mount')\n");
      return 0;
    }
    io.out(
      formatTable({
        header: ['PATH', 'ALIAS', 'EXPORT', 'STATE', 'SERVING', 'ENDPOINTS', 'SWITCHES'],
        rows: rows.map((r) => [
          r.path,
          r.alias,
          r.export,
          r.state + (r.ro ? ' (ro)' : ''),
          r.serving ?? '-',
          r.endpoints.map((e) => (e.state === undefined ? e.url : `${e.url} ${e.state}`)).join(', '),
          String(r.switchCount),
        ]),
      }),
    );
    return 0;
  },
};

/** The mount commands. */
export const mountCommands: readonly Command[] = [mountCommand, unmountCommand, mountsCommand];
