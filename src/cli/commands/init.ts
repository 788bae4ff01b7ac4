import { initHome } from '../../core/home.ts';
import { nodeNameOf } from '../../core/config.ts';
import { parseCommandArgs } from '../args.ts';
import { HOME_OPTION_HELP, homeRootOf, type Command } from '../command.ts';

/** `tessera init`: create the node's home, identity and starter config. */
export const initCommand: Command = {
  name: 'init',
  summary: 'create the node home (identity and tessera.toml)',
  help: `Usage: tessera init [--name NAME] [--home DIR]

Create the node's home: its identity (node.json, a random 128-bit node id) and a starter
tessera.toml. Running it again creates only what is missing and changes nothing else.

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
    const fresh = createdConfig || createdIdentity;
    io.out(
      `${fresh ? 'initialized' : 'already initialized'} ${root}\n` +
        `node id    ${home.identity.id}\n` +
        `node name  ${nodeNameOf(home.config)}\n` +
        `config     ${home.paths.configFile}\n`,
    );
    return 0;
  },
};
