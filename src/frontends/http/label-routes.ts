import { z } from 'zod';
import {
  addRule,
  assignLabels,
  effectiveLabels,
  getRule,
  type LabelRule,
  labelSchema,
  listAssignments,
  listRules,
  removeRule,
  ruleInputSchema,
  unassignLabels,
} from '../../catalog/labels.ts';
import type { CatalogStore } from '../../catalog/store.ts';
import { FsError } from '../../core/fs-error.ts';
import { API_PREFIX, type ApiState } from './api-state.ts';
import { type CatalogScope, catalogScope, catalogStore, labelListParam } from './catalog-scope.ts';
import { apiPath, canonicalPath } from './paths.ts';
import { sendJson } from './respond.ts';
import { type AnyRoute, defineRoute, type Principal } from './route.ts';

const assignmentSchema = z.object({
  label: z.string(),
  path: z.string().describe('the file now (assignments follow the file when it is renamed)'),
  created: z.string().describe('ISO 8601'),
});

const ruleSchema = z.object({
  id: z.string(),
  prefix: z.string().describe('namespace path ending with /'),
  node: z.string().nullable().describe('only files whose data is on this node; null: any'),
  label: z.string(),
  enabled: z.boolean(),
  created: z.string().describe('ISO 8601'),
});

const effectiveSchema = z.object({
  path: z.string(),
  labels: z.array(z.string()).describe('the effective labels (assigned ∪ given by enabled rules)'),
  assigned: z.array(z.string()),
  rules: z.array(ruleSchema).describe('the enabled rules that give labels to this file'),
});

const fileQuery = z.strictObject({ path: apiPath.describe('namespace path of the file') });

const iso = (ms: number) => new Date(ms).toISOString();
const ruleJson = (r: LabelRule) => ({
  id: r.id,
  prefix: r.prefix,
  node: r.node,
  label: r.label,
  enabled: r.enabled,
  created: iso(r.createdAt),
});

/**
 * The catalog store, and the document of the file at `path` if the caller may see it (`ENOENT`
 * otherwise, as for a file of an export it does not cover); with `write`, `EACCES` unless it may
 * write.
 */
async function fileFor(opts: {
  state: ApiState;
  principal: Principal;
  path: string;
  op: string;
  write?: boolean;
}) {
  const { principal, op } = opts;
  const store = catalogStore(opts.state, op);
  const path = canonicalPath(op, opts.path).path;
  const scope = await catalogScope(principal, op);
  const doc = store.fileByPath(path);
  if (!doc || !scope.visible.has(doc.mount)) {
    throw FsError.ENOENT(op, path, 'not in the catalog (not indexed yet, or not visible to this credential)');
  }
  if (opts.write === true && !principal.grant.caps.write) {
    throw FsError.EACCES(op, path, `credential ${principal.grant.principal} may not write`);
  }
  return { store, doc };
}

/** The assignments of a file, as the API answers them. */
function assignmentsOf(store: CatalogStore, fileId: string) {
  const assignments = listAssignments(store, { fileId });
  return {
    assignments: assignments.map((a) => ({ label: a.label, path: a.path, created: iso(a.createdAt) })),
  };
}

/** Namespace mounts a rule prefix reaches: those under it, and the one it lies in. */
function mountsReached(prefix: string, mounts: readonly string[]): string[] {
  return mounts.filter((m) => `${m}/`.startsWith(prefix) || prefix.startsWith(`${m}/`));
}

/** Whether the caller may see a rule: it reaches a mount the caller sees. */
function ruleVisible(scope: CatalogScope, rule: LabelRule, mounts: readonly string[]): boolean {
  return scope.everything || mountsReached(rule.prefix, mounts).some((m) => scope.visible.has(m));
}

/**
 * Refuse (`EACCES`) a change to a rule unless the caller has `write` and sees every mount the
 * prefix reaches (a rule over mounts it cannot see would label files it has no right to).
 */
function checkRuleWrite(opts: {
  principal: Principal;
  scope: CatalogScope;
  prefix: string;
  mounts: readonly string[];
  op: string;
}): void {
  const { principal, scope, prefix, op } = opts;
  if (!principal.grant.caps.write)
    throw FsError.EACCES(op, prefix, `credential ${principal.grant.principal} may not write`);
  const reached = mountsReached(prefix, opts.mounts);
  const hidden = reached.filter((m) => !scope.visible.has(m));
  if (hidden.length > 0 || (reached.length === 0 && !scope.everything)) {
    throw FsError.EACCES(
      op,
      prefix,
      'a rule may only reach mounts the credential covers (or any path with exports = *)',
    );
  }
}

/** Label assignments of files, label rules, and the effective labels of a file (the catalog). */
export function labelRoutes(state: ApiState): AnyRoute[] {
  const mounts = () => state.host.status().mounts.map((m) => m.path);
  return [
    defineRoute({
      method: 'GET',
      path: `${API_PREFIX}/labels/assignments`,
      auth: 'token',
      tag: 'labels',
      summary: 'Labels given to one file',
      query: fileQuery,
      responses: {
        200: {
          description: "the file's assignments",
          schema: z.object({ assignments: z.array(assignmentSchema) }),
        },
      },
      async handle({ res, query, principal }) {
        const op = 'labels list';
        const { store, doc } = await fileFor({ state, principal: principal!, path: query.path, op });
        sendJson(res, 200, assignmentsOf(store, doc.fileId));
      },
    }),
    defineRoute({
      method: 'POST',
      path: `${API_PREFIX}/labels/assignments`,
      auth: 'token',
      tag: 'labels',
      summary: 'Give labels to a file (needs write)',
      description:
        'Giving a label the file already has changes nothing. Answers every label the file is given.',
      body: z.strictObject({
        path: apiPath.describe('namespace path of the file'),
        labels: z.array(labelSchema).min(1).max(32),
      }),
      responses: {
        200: {
          description: "the file's assignments",
          schema: z.object({ assignments: z.array(assignmentSchema) }),
        },
      },
      async handle({ res, body, principal }) {
        const op = 'labels add';
        const { store, doc } = await fileFor({
          state,
          principal: principal!,
          path: body.path,
          op,
          write: true,
        });
        assignLabels(store, { inode: doc.inode, labels: body.labels });
        sendJson(res, 200, assignmentsOf(store, doc.fileId));
      },
    }),
    defineRoute({
      method: 'DELETE',
      path: `${API_PREFIX}/labels/assignments`,
      auth: 'token',
      tag: 'labels',
      summary: 'Take labels from a file (needs write)',
      description: 'Labels a rule gives stay effective; remove or disable the rule for those.',
      query: z.strictObject({
        path: apiPath.describe('namespace path of the file'),
        labels: labelListParam('comma-separated labels to take away').refine(
          (l) => l.length > 0,
          'give at least one label',
        ),
      }),
      responses: {
        200: { description: 'how many assignments went', schema: z.object({ removed: z.number() }) },
      },
      async handle({ res, query, principal }) {
        const op = 'labels remove';
        const { store, doc } = await fileFor({
          state,
          principal: principal!,
          path: query.path,
          op,
          write: true,
        });
        sendJson(res, 200, { removed: unassignLabels(store, { inode: doc.inode, labels: query.labels }) });
      },
    }),
    defineRoute({
      method: 'GET',
      path: `${API_PREFIX}/labels/effective`,
      auth: 'token',
      tag: 'labels',
      summary: 'The effective labels of a file, and where each comes from',
      query: fileQuery,
      responses: { 200: { description: 'its labels', schema: effectiveSchema } },
      async handle({ res, query, principal }) {
        const op = 'labels show';
        const { store, doc } = await fileFor({ state, principal: principal!, path: query.path, op });
        const eff = effectiveLabels(store, { inode: doc.inode });
        sendJson(res, 200, {
          path: eff.path,
          labels: eff.labels,
          assigned: eff.assigned,
          rules: eff.rules.map(ruleJson),
        });
      },
    }),
    defineRoute({
      method: 'GET',
      path: `${API_PREFIX}/labels/rules`,
      auth: 'token',
      tag: 'labels',
      summary: 'Label rules (those reaching a mount the caller may see)',
      responses: { 200: { description: 'the rules', schema: z.object({ rules: z.array(ruleSchema) }) } },
      async handle({ res, principal }) {
        const op = 'labels rule list';
        const store = catalogStore(state, op);
        const scope = await catalogScope(principal!, op);
        const all = mounts();
        sendJson(res, 200, {
          rules: listRules(store)
            .filter((r) => ruleVisible(scope, r, all))
            .map(ruleJson),
        });
      },
    }),
    defineRoute({
      method: 'POST',
      path: `${API_PREFIX}/labels/rules`,
      auth: 'token',
      tag: 'labels',
      summary: 'Add a label rule, or enable/disable it (needs write over the mounts it reaches)',
      description:
        'Every file under `prefix` (of `node` only, when given) has `label`. The rule id is ' +
        'derived from prefix, node and label, so posting the same rule again only sets `enabled`.',
      body: ruleInputSchema,
      responses: { 200: { description: 'the rule', schema: z.object({ rule: ruleSchema }) } },
      async handle({ res, body, principal }) {
        const op = 'labels rule add';
        const store = catalogStore(state, op);
        const scope = await catalogScope(principal!, op);
        checkRuleWrite({ principal: principal!, scope, prefix: body.prefix, mounts: mounts(), op });
        sendJson(res, 200, { rule: ruleJson(addRule(store, body)) });
      },
    }),
    defineRoute({
      method: 'DELETE',
      path: `${API_PREFIX}/labels/rules`,
      auth: 'token',
      tag: 'labels',
      summary: 'Remove a label rule (needs write over the mounts it reaches)',
      query: z.strictObject({
        id: z.string().regex(/^lr:[0-9a-f]{16}$/, 'a rule id like lr:0123456789abcdef'),
      }),
      responses: { 204: { description: 'removed' } },
      async handle({ res, query, principal }) {
        const op = 'labels rule remove';
        const store = catalogStore(state, op);
        const scope = await catalogScope(principal!, op);
        const rule = getRule(store, query.id);
        const all = mounts();
        if (!rule || !ruleVisible(scope, rule, all)) throw FsError.ENOENT(op, query.id, 'no such rule');
        checkRuleWrite({ principal: principal!, scope, prefix: rule.prefix, mounts: all, op });
        removeRule(store, { id: rule.id });
        res.writeHead(204);
        res.end();
      },
    }),
  ];
}
