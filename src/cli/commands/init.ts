import { initHome } from '../../core/home.ts';
import { nodeNameOf } from '../../core/config.ts';
import { ensureOwnerCredential, ownerCredentialFile } from '../../node/credentials.ts';
import { ensureNodeCa } from '../../node/tls-ca.ts';
import { parseCommandArgs } from '../args.ts';
import { HOME_OPTION_HELP, homeRootOf, type Command } from '../command.ts';

/** `tessera init`: create the node's home, identity and starter config. */
export const initCommand: Command = {
  name: 'init',
  summary: 'create the node home (identity, tessera.toml, TLS CA, owner credential)',
  help: `Usage: tessera init [--name NAME] [--home DIR]

Create the node's home: its identity (node.json, a random 128-bit node id), a starter
tessera.toml, the node's own certificate authority (tls/, for 'tessera serve') and an owner
credential for local commands (owner-credential.json, mode 0600). Running it again creates
only what is missing and changes nothing else.

Options:
  --name NAME      node name (default: this host's name); letters, digits, '.', '_', '-'
${HOME_OPTION_HELP}
`,
  async run({ io, argv }) {
    const { values } = parseCommandArgs({ command: 'init', argv, options: { name: { type: 'string' } } });
    if (values.help === true) {
      io.out(this.help);
      return 0;
    }
    const root = homeRootOf({ io, home: values.home });
    const { home, createdConfig, createdIdentity } = await initHome({ root, name: values.name });
    const nodeName = nodeNameOf(home.config);
    const ca = await ensureNodeCa({ home: root, nodeName });
    const owner = await ensureOwnerCredential({ home: root });
    const fresh = createdConfig || createdIdentity;
    io.out(
      `${fresh ? 'initialized' : 'already initialized'} ${root}\n` +
        `node id    ${home.identity.id}\n` +
        `node name  ${nodeName}\n` +
        `config     ${home.paths.configFile}\n` +
        `tls ca     ${ca.caFingerprint}\n` +
        `owner key  ${owner.id} (secret in ${ownerCredentialFile(root)})\n`,
    );
    return 0;
  },
};
