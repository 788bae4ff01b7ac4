import { nodeNameOf } from '../../core/config.ts';
import { openHome } from '../../core/home.ts';
import { parseCommandArgs } from '../args.ts';
import { HOME_OPTION_HELP, homeRootOf, type Command } from '../command.ts';

/** `tessera info`: what this home is. */
export const infoCommand: Command = {
  name: 'info',
  summary: 'show the node home, node id, name, listen address and export count',
  help: `Usage: tessera info [--json] [--home DIR]

Show the node's home, identity and configuration summary.

Options:
  --json           print one JSON object {home, config, nodeId, nodeName, listen, exports}
${HOME_OPTION_HELP}
`,
  async run({ io, argv }) {
    const { values } = parseCommandArgs({ command: 'info', argv, options: { json: { type: 'boolean' } } });
    if (values.help === true) {
      io.out(this.help);
      return 0;
    }
    const home = await openHome({ root: homeRootOf({ io, home: values.home }) });
    const info = {
      home: home.paths.root,
      config: home.paths.configFile,
      nodeId: home.identity.id,
      nodeName: nodeNameOf(home.config),
      listen: home.config.server.listen,
      exports: home.config.export.length,
    };
    if (values.json === true) {
      io.out(`${JSON.stringify(info, null, 2)}\n`);
      return 0;
    }
    io.out(
      `home       ${info.home}\n` +
        `config     ${info.config}\n` +
        `node id    ${info.nodeId}\n` +
        `node name  ${info.nodeName}\n` +
        `listen     ${info.listen}\n` +
        `exports    ${info.exports}\n`,
    );
    return 0;
  },
};
