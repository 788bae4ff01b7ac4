import {
  addRule,
  assignLabels,
  effectiveLabels,
  listAssignments,
  listLabels,
  listRules,
  removeRule,
  setRuleEnabled,
  unassignLabels,
} from '../../catalog/labels.ts';
import { parseCommandArgs } from '../args.ts';
import { HOME_OPTION_HELP, type Command } from '../command.ts';
import { formatTable } from '../io.ts';
import { withCatalog } from './index-search.ts';

const JSON_HELP = '  --json           JSON output';

/** A label command: parse, open the catalog, act, print (JSON or text). */
function labelCommand<T>(spec: {
  name: string;
  summary: string;
  usage: string;
  text: string;
  positionals?: string[];
  variadic?: boolean;
  options?: Record<string, { type: 'string' | 'boolean'; multiple?: boolean }>;
  optionsHelp?: string;
  write: boolean;
  act: (opts: {
    store: Parameters<Parameters<typeof withCatalog>[0]['fn']>[0];
    args: string[];
    values: Record<string, unknown>;
  }) => T;
  print: (result: T) => string;
}): Command {
  return {
    name: spec.name,
    summary: spec.summary,
    help: `Usage: tessera ${spec.name} ${spec.usage} [--json] [--home DIR]

${spec.text}

Options:
${spec.optionsHelp === undefined ? '' : `${spec.optionsHelp}\n`}${JSON_HELP}
${HOME_OPTION_HELP}
`,
    async run({ io, argv }) {
      const required = spec.positionals ?? [];
      const { values, positionals } = parseCommandArgs({
        command: spec.name,
        argv,
        options: { ...spec.options, json: { type: 'boolean' } },
        positionals: required,
        variadic: spec.variadic === true,
      });
      if (values.help === true) {
        io.out(this.help);
        return 0;
      }
      const result = await withCatalog({
        io,
        home: values.home,
        write: spec.write,
        fn: (store) => spec.act({ store, args: positionals, values }),
      });
      io.out(values.json === true ? `${JSON.stringify(result ?? null, null, 2)}\n` : spec.print(result));
      return 0;
    },
  };
}

const rulesTable = (rules: ReturnType<typeof listRules>): string =>
  rules.length === 0
    ? 'no rules\n'
    : formatTable({
        header: ['ID', 'PREFIX', 'NODE', 'LABEL', 'ENABLED'],
        rows: rules.map((r) => [r.id, r.prefix, r.node ?? '*', r.label, r.enabled ? 'yes' : 'no']),
      });

/** `tessera labels …`. */
export const labelsCommands: readonly Command[] = [
  labelCommand({
    name: 'labels list',
    summary: 'every label in use, with how many files have it',
    usage: '',
    text: 'List every label given by an assignment or a rule, with the number of files that have it now.',
    write: false,
    act: ({ store }) => listLabels(store),
    print: (labels) =>
      labels.length === 0
        ? 'no labels\n'
        : formatTable({ header: ['LABEL', 'FILES'], rows: labels.map((l) => [l.label, String(l.files)]) }),
  }),
  labelCommand({
    name: 'labels add',
    summary: 'give labels to a file',
    usage: 'PATH LABEL...',
    text:
      'Give each LABEL to the file at PATH (a namespace path, e.g. /docs/report.pdf). Giving a label\n' +
      'twice is one assignment. Assignments follow the file through renames and survive re-indexing.',
    positionals: ['PATH', 'LABEL'],
    variadic: true,
    write: true,
    act: ({ store, args }) => assignLabels(store, { path: args[0]!, labels: args.slice(1) }),
    print: (added) => `${added.map((a) => `${a.path}: +${a.label}`).join('\n')}\n`,
  }),
  labelCommand({
    name: 'labels rm',
    summary: 'take labels from a file',
    usage: 'PATH LABEL...',
    text: 'Take each LABEL assigned to the file at PATH away (labels given by rules stay: see labels rules).',
    positionals: ['PATH', 'LABEL'],
    variadic: true,
    write: true,
    act: ({ store, args }) => ({ removed: unassignLabels(store, { path: args[0]!, labels: args.slice(1) }) }),
    print: (r) => `${r.removed} assignment(s) removed\n`,
  }),
  labelCommand({
    name: 'labels show',
    summary: "a file's effective labels and where each comes from",
    usage: 'PATH',
    text: 'Show the effective labels of the file at PATH: its assignments and the rules that match it.',
    positionals: ['PATH'],
    write: false,
    act: ({ store, args }) => effectiveLabels(store, { path: args[0]! }),
    print: (e) =>
      `path      ${e.path}\ninode     ${e.inode}\nlabels    ${e.labels.join(', ') || '-'}\n` +
      `assigned  ${e.assigned.join(', ') || '-'}\n` +
      `rules     ${e.rules.map((r) => `${r.label} (${r.prefix}${r.node === null ? '' : ` on ${r.node}`}, ${r.id})`).join(', ') || '-'}\n`,
  }),
  labelCommand({
    name: 'labels assignments',
    summary: 'list label assignments',
    usage: '[--label L]',
    text: 'List every label assignment (file path, label), or those of one label.',
    options: { label: { type: 'string' } },
    optionsHelp: '  --label L        only assignments of this label',
    write: false,
    act: ({ store, values }) => listAssignments(store, { label: values.label as string | undefined }),
    print: (list) =>
      list.length === 0
        ? 'no assignments\n'
        : formatTable({ header: ['PATH', 'LABEL', 'ID'], rows: list.map((a) => [a.path, a.label, a.id]) }),
  }),
  labelCommand({
    name: 'labels rules',
    summary: 'list label rules',
    usage: '',
    text: "List the label rules: every file under PREFIX (of NODE's data, or any node's: *) has LABEL.",
    write: false,
    act: ({ store }) => listRules(store),
    print: rulesTable,
  }),
  labelCommand({
    name: 'labels rule-add',
    summary: 'give a label to every file under a path prefix',
    usage: 'PREFIX LABEL [--node NODE] [--disabled]',
    text:
      'Add a rule: every file under PREFIX (a namespace path ending with "/") has LABEL, now and\n' +
      "as files come and go. With --node, only files whose data that node holds. The rule's id is\n" +
      'derived from prefix, node and label, so adding it again changes nothing (or its enabled flag).',
    positionals: ['PREFIX', 'LABEL'],
    options: { node: { type: 'string' }, disabled: { type: 'boolean' } },
    optionsHelp: '  --node NODE      only files held by this node\n  --disabled       add it disabled',
    write: true,
    act: ({ store, args, values }) =>
      addRule(store, {
        prefix: args[0]!,
        label: args[1]!,
        node: values.node as string | undefined,
        enabled: values.disabled !== true,
      }),
    print: (r) => rulesTable([r]),
  }),
  labelCommand({
    name: 'labels rule-rm',
    summary: 'remove a label rule',
    usage: 'ID',
    text: 'Remove the rule ID (see labels rules); its label leaves the files nothing else gives it to.',
    positionals: ['ID'],
    write: true,
    act: ({ store, args }) => {
      removeRule(store, { id: args[0]! });
      return { removed: args[0]! };
    },
    print: (r) => `rule ${r.removed} removed\n`,
  }),
  ...(['enable', 'disable'] as const).map((verb) =>
    labelCommand({
      name: `labels rule-${verb}`,
      summary: `${verb} a label rule`,
      usage: 'ID',
      text: `${verb === 'enable' ? 'Enable' : 'Disable'} the rule ID (see labels rules).`,
      positionals: ['ID'],
      write: true,
      act: ({ store, args }) => setRuleEnabled(store, { id: args[0]!, enabled: verb === 'enable' }),
      print: (r) => rulesTable([r]),
    }),
  ),
];
