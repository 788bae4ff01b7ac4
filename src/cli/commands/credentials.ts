import { FsError } from '../../core/fs-error.ts';
import { openHome } from '../../core/home.ts';
import {
  CAP_NAMES,
  type CredentialCaps,
  type CredentialInfo,
  createCredential,
  credentialNameProblem,
  disableCredential,
  listCredentials,
  removeCredential,
} from '../../node/credentials.ts';
import { parseCommandArgs, usageError } from '../args.ts';
import { HOME_OPTION_HELP, homeRootOf, type Command } from '../command.ts';
import { formatTable } from '../io.ts';

/** `--cap show,read` → caps with exactly those set. */
export function parseCaps(text: string): CredentialCaps {
  const caps: CredentialCaps = { show: false, read: false, write: false, execute: false };
  const names = text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (names.length === 0) {
    throw usageError({
      command: 'credentials create',
      problem: `--cap: name at least one of ${CAP_NAMES.join(',')}`,
    });
  }
  for (const name of names) {
    if (!(CAP_NAMES as readonly string[]).includes(name)) {
      throw usageError({
        command: 'credentials create',
        problem: `--cap: unknown capability '${name}' (one of ${CAP_NAMES.join(', ')})`,
      });
    }
    caps[name as keyof CredentialCaps] = true;
  }
  return caps;
}

function capsText(caps: CredentialCaps): string {
  const on = CAP_NAMES.filter((c) => caps[c]);
  return on.length === 0 ? '-' : on.join(',');
}

function exportsText(exports: CredentialInfo['exports']): string {
  return exports === '*' ? '*' : exports.join(',');
}

/** `tessera credentials create`. */
export const credentialsCreateCommand: Command = {
  name: 'credentials create',
  summary: 'create an access key (id + secret, shown once) for clients of this node',
  help: `Usage: tessera credentials create --name NAME [--export EXPORT]... [--cap CAPS] [--json] [--home DIR]

Create a credential for clients of this node: an access key id and a secret. The secret is
printed once and never stored (the node keeps only an argon2id-derived verifier), so keep it
now. Clients authenticate without sending it (SCRAM).

Options:
  --name NAME      who it is for (letters, digits, '.', '_', '@', '-'; shown in the audit log)
  --export EXPORT  an export it may use (repeatable; default: every export, present and future)
  --cap CAPS       comma-separated capabilities: show,read,write,execute (default: all four)
                     show     see names and attributes      read   read file contents
                     write    change anything               execute  see and set x bits
  --json           print {id, secret, name, exports, caps} as JSON
${HOME_OPTION_HELP}
`,
  async run({ io, argv }) {
    const { values } = parseCommandArgs({
      command: 'credentials create',
      argv,
      options: {
        name: { type: 'string' },
        export: { type: 'string', multiple: true },
        cap: { type: 'string' },
        json: { type: 'boolean' },
      },
    });
    if (values.help === true) {
      io.out(this.help);
      return 0;
    }
    if (values.name === undefined)
      throw usageError({ command: 'credentials create', problem: 'missing --name' });
    const nameProblem = credentialNameProblem(values.name);
    if (nameProblem !== undefined)
      throw usageError({ command: 'credentials create', problem: `--name: ${nameProblem}` });
    const caps = values.cap === undefined ? undefined : parseCaps(values.cap);
    const root = homeRootOf({ io, home: values.home });
    const home = await openHome({ root });
    const known = home.config.export.map((e) => e.name);
    const exports = values.export === undefined ? '*' : values.export;
    if (exports !== '*') {
      for (const name of exports) {
        if (!known.includes(name)) {
          throw new FsError({
            code: 'ENOENT',
            op: 'credentials create',
            path: name,
            message: `ENOENT: no export named '${name}' (exports: ${known.length === 0 ? 'none' : known.join(', ')})`,
          });
        }
      }
    }
    const { id, secret } = await createCredential({ home: root, name: values.name, exports, caps });
    const shownCaps = caps ?? { show: true, read: true, write: true, execute: true };
    if (values.json === true) {
      io.out(`${JSON.stringify({ id, secret, name: values.name, exports, caps: shownCaps }, null, 2)}\n`);
      return 0;
    }
    io.out(
      `created credential for ${values.name}\n` +
        `id       ${id}\n` +
        `secret   ${secret}\n` +
        `exports  ${exportsText(exports)}\n` +
        `caps     ${capsText(shownCaps)}\n` +
        'The secret is shown only now: store it safely.\n',
    );
    return 0;
  },
};

/** `tessera credentials list`. */
export const credentialsListCommand: Command = {
  name: 'credentials list',
  summary: "list this node's credentials (never their secrets)",
  help: `Usage: tessera credentials list [--json] [--home DIR]

List the credentials of this node: access key id, name, exports, capabilities and status.

Options:
  --json           print a JSON array of {id, name, exports, caps, disabled, owner, created}
${HOME_OPTION_HELP}
`,
  async run({ io, argv }) {
    const { values } = parseCommandArgs({
      command: 'credentials list',
      argv,
      options: { json: { type: 'boolean' } },
    });
    if (values.help === true) {
      io.out(this.help);
      return 0;
    }
    const root = homeRootOf({ io, home: values.home });
    await openHome({ root });
    const list = await listCredentials({ home: root });
    if (values.json === true) {
      io.out(`${JSON.stringify(list, null, 2)}\n`);
      return 0;
    }
    if (list.length === 0) {
      io.out("no credentials (create one with 'tessera credentials create --name NAME')\n");
      return 0;
    }
    io.out(
      formatTable({
        header: ['ID', 'NAME', 'EXPORTS', 'CAPS', 'STATUS', 'CREATED'],
        rows: list.map((c) => [
          c.id,
          c.name,
          exportsText(c.exports),
          capsText(c.caps),
          (c.disabled ? 'disabled' : 'active') + (c.owner ? ' (owner)' : ''),
          c.created,
        ]),
      }),
    );
    return 0;
  },
};

function idCommand(opts: {
  verb: 'disable' | 'remove';
  summary: string;
  help: string;
  act: (opts: { home: string; id: string }) => Promise<CredentialInfo>;
}): Command {
  const name = `credentials ${opts.verb}`;
  return {
    name,
    summary: opts.summary,
    help: opts.help,
    async run({ io, argv }) {
      const { values, positionals } = parseCommandArgs({
        command: name,
        argv,
        options: {},
        positionals: ['ID'],
      });
      if (values.help === true) {
        io.out(this.help);
        return 0;
      }
      const root = homeRootOf({ io, home: values.home });
      await openHome({ root });
      const info = await opts.act({ home: root, id: positionals[0] ?? '' });
      io.out(`${opts.verb === 'disable' ? 'disabled' : 'removed'} credential ${info.id} (${info.name})\n`);
      if (info.owner) {
        io.out(
          opts.verb === 'remove'
            ? 'note: that was the owner credential; the next tessera init or serve makes a new one\n'
            : 'note: that is the owner credential; local commands can no longer use the node\n',
        );
      }
      return 0;
    },
  };
}

/** `tessera credentials disable`. */
export const credentialsDisableCommand = idCommand({
  verb: 'disable',
  summary: 'disable a credential (it stays listed, but can no longer log in)',
  help: `Usage: tessera credentials disable ID [--home DIR]

Disable a credential: new sessions with it are refused (the audit log says why). Sessions
already open keep running until they end.

Options:
${HOME_OPTION_HELP}
`,
  act: disableCredential,
});

/** `tessera credentials remove`. */
export const credentialsRemoveCommand = idCommand({
  verb: 'remove',
  summary: 'remove a credential for good',
  help: `Usage: tessera credentials remove ID [--home DIR]

Remove a credential from this node. Sessions already open keep running until they end.

Options:
${HOME_OPTION_HELP}
`,
  act: removeCredential,
});

/** Every `credentials` subcommand. */
export const credentialsCommands: readonly Command[] = [
  credentialsCreateCommand,
  credentialsListCommand,
  credentialsDisableCommand,
  credentialsRemoveCommand,
];
