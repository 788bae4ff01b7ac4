import { FsError } from '../../core/fs-error.ts';
import { parseCommandArgs, usageError } from '../args.ts';
import { HOME_OPTION_HELP, type Command } from '../command.ts';
import type { CliIO } from '../io.ts';
import { openRemote, REMOTE_OPTION_HELP, REMOTE_OPTIONS, resolveTarget } from '../remote/connect.ts';

/** Pause between two attempts of `status --wait`. */
const RETRY_MS = 200;

interface NodeStatus {
  url: string;
  nodeId: string;
  nodeName: string;
  /** Protocol version of the session. */
  version: number;
  principal: string;
  fingerprint: string | null;
  rttMs: number;
  exports: { name: string; kind: string; ro: boolean }[];
}

/** One attempt: connect, PING, EXPORTS, goodbye. */
async function probe(opts: {
  io: CliIO;
  values: { home?: string | undefined; node?: string | undefined; credential?: string | undefined };
  timeoutMs: number;
}): Promise<NodeStatus> {
  const target = await resolveTarget({ io: opts.io, command: 'status', values: opts.values });
  const source = await openRemote({ io: opts.io, target, timeoutMs: opts.timeoutMs });
  try {
    const rttMs = await source.ping();
    const exports = (await source.listExports())
      .filter((e) => e.name !== '/')
      .map((e) => ({ name: e.name, kind: e.source_kind, ro: e.ro || !e.caps.writable }));
    const { session, fingerprint } = source.connection;
    return {
      url: target.url,
      nodeId: session.nodeId,
      nodeName: session.nodeName,
      version: session.version,
      principal: session.principal,
      fingerprint: fingerprint ?? null,
      rttMs: Math.round(rttMs * 100) / 100,
      exports,
    };
  } finally {
    await source.close().catch(() => undefined);
  }
}

/** `tessera status`: whether the node answers, and who it is. */
export const statusCommand: Command = {
  name: 'status',
  summary: "check that the home's node (or --node) answers; show its name, id and exports",
  help: `Usage: tessera status [--wait SECONDS] [--json] [--node URL --credential ID:SECRET] [--home DIR]

Connect to the home's running node (or --node), authenticate and PING it. Exits 0 and
shows the node's name, id, URL, protocol version and exports when it answers; otherwise
exits with the errno of the failure (ECONNREFUSED 111 when no node runs).

Options:
  --wait SECONDS   keep trying until the node answers or SECONDS pass (for scripts that
                   start a node and wait for it); connection failures are retried, others
                   (a rejected credential, a changed certificate) end the wait at once
  --json           one JSON object {url, nodeId, nodeName, version, principal,
                   fingerprint, rttMs, exports: [{name, kind, ro}]}
${REMOTE_OPTION_HELP}
${HOME_OPTION_HELP}
`,
  async run({ io, argv }) {
    const { values } = parseCommandArgs({
      command: 'status',
      argv,
      options: { ...REMOTE_OPTIONS, wait: { type: 'string' }, json: { type: 'boolean' } },
    });
    if (values.help === true) {
      io.out(this.help);
      return 0;
    }
    let waitMs = 0;
    if (values.wait !== undefined) {
      const seconds = Number(values.wait);
      if (values.wait.trim() === '' || !Number.isFinite(seconds) || seconds < 0)
        throw usageError({ command: 'status', problem: `--wait expects seconds, got '${values.wait}'` });
      waitMs = seconds * 1000;
    }
    const deadline = Date.now() + waitMs;
    let status: NodeStatus;
    for (;;) {
      try {
        const left = deadline - Date.now();
        status = await probe({ io, values, timeoutMs: Math.max(1000, Math.min(10_000, left)) });
        break;
      } catch (err) {
        const e = FsError.from(err, 'status');
        if (!e.retryable || Date.now() + RETRY_MS > deadline) throw e;
        await new Promise((r) => setTimeout(r, RETRY_MS));
      }
    }
    if (values.json === true) {
      io.out(`${JSON.stringify(status, null, 2)}\n`);
      return 0;
    }
    const exports =
      status.exports.length === 0
        ? '(none)'
        : status.exports.map((e) => `${e.name} (${e.kind}, ${e.ro ? 'ro' : 'rw'})`).join(', ');
    io.out(
      `node         ${status.nodeName}\n` +
        `node id      ${status.nodeId}\n` +
        `url          ${status.url}\n` +
        (status.fingerprint === null ? '' : `certificate  ${status.fingerprint}\n`) +
        `protocol     ${status.version}\n` +
        `principal    ${status.principal}\n` +
        `ping         ${status.rttMs} ms\n` +
        `exports      ${exports}\n`,
    );
    return 0;
  },
};
