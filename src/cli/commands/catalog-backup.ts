import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { createBackup, restoreBackup } from '../../catalog/backup.ts';
import { writeFileAtomic } from '../../core/atomic-file.ts';
import { nodeNameOf } from '../../core/config.ts';
import { FsError } from '../../core/fs-error.ts';
import { openHome } from '../../core/home.ts';
import { listCredentials } from '../../node/credentials.ts';
import { parseCommandArgs } from '../args.ts';
import { HOME_OPTION_HELP, type Command } from '../command.ts';
import { withCatalog } from './index-search.ts';

/** `tessera catalog backup`. */
export const catalogBackupCommand: Command = {
  name: 'catalog backup',
  summary: "write the catalog's configuration (virtual directories, labels, rules) as JSON",
  help: `Usage: tessera catalog backup [--output FILE] [--home DIR]

Write one JSON document with the catalog's configuration: virtual directories and other
catalog documents, label assignments, label rules, and the metadata of the node's
credentials (ids, names, grants — never secrets or verifiers). File documents are not
included: a node re-crawls its namespace. To stdout unless --output.

Options:
  --output FILE    write to FILE (atomically) instead of stdout
${HOME_OPTION_HELP}
`,
  async run({ io, argv }) {
    const { values } = parseCommandArgs({
      command: 'catalog backup',
      argv,
      options: { output: { type: 'string' } },
    });
    if (values.help === true) {
      io.out(this.help);
      return 0;
    }
    const text = await withCatalog({
      io,
      home: values.home,
      fn: async (store, root) => {
        const home = await openHome({ root });
        const credentials = (await listCredentials({ home: root })) as unknown as Record<string, unknown>[];
        return `${JSON.stringify(createBackup(store, { node: nodeNameOf(home.config), credentials }), null, 2)}\n`;
      },
    });
    if (values.output === undefined) io.out(text);
    else {
      const file = resolve(io.cwd, values.output);
      await writeFileAtomic({ file, data: text });
      io.err(`catalog backup written to ${file}\n`);
    }
    return 0;
  },
};

/** `tessera catalog restore`. */
export const catalogRestoreCommand: Command = {
  name: 'catalog restore',
  summary: 'restore a catalog backup into an empty catalog',
  help: `Usage: tessera catalog restore FILE [--json] [--home DIR]

Restore a backup made by 'tessera catalog backup' into this home's catalog, which must
have no configuration yet (no virtual directories, labels or rules): anything else is
refused (EEXIST) and nothing changes. Credentials are listed but not restored (backups hold
no secrets): create new ones with 'tessera credentials create'. Labels attach to files again
as the node crawls them.

Options:
  --json           {documents, labelAssignments, labelRules, credentialsNotRestored}
${HOME_OPTION_HELP}
`,
  async run({ io, argv }) {
    const { values, positionals } = parseCommandArgs({
      command: 'catalog restore',
      argv,
      options: { json: { type: 'boolean' } },
      positionals: ['FILE'],
    });
    if (values.help === true) {
      io.out(this.help);
      return 0;
    }
    const file = resolve(io.cwd, positionals[0]!);
    let raw: unknown;
    try {
      raw = JSON.parse(await readFile(file, 'utf8'));
    } catch (err) {
      if (err instanceof SyntaxError)
        throw FsError.EINVAL('catalog restore', file, `not JSON: ${err.message}`);
      throw FsError.from(err, 'catalog restore', file);
    }
    const r = await withCatalog({
      io,
      home: values.home,
      create: true,
      fn: (store) => restoreBackup(store, raw),
    });
    if (values.json === true) io.out(`${JSON.stringify(r, null, 2)}\n`);
    else {
      io.out(
        `restored ${r.documents} document(s), ${r.labelAssignments} label assignment(s), ${r.labelRules} rule(s)\n`,
      );
      if (r.credentialsNotRestored.length > 0)
        io.out(`not restored (no secrets in backups): credentials ${r.credentialsNotRestored.join(', ')}\n`);
    }
    return 0;
  },
};
