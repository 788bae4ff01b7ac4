import { hostPortOf } from '../client/connection.ts';
import { type MountEntry, mountPathOf } from '../core/config.ts';
import { FsError } from '../core/fs-error.ts';
import type { MountRequest } from '../core/http-surface.ts';
import { editMounts } from '../core/home.ts';
import { removeMountCredentials, saveMountCredential } from './mount-credentials.ts';

/** What {@link addMountEntry} did. */
export type MountAdded = 'mount' | 'endpoint' | 'again';

/**
 * Record a remote mount in the home's tessera.toml (a running node's mount manager picks it
 * up): a new `[[mount]]` at `path` (default `/<alias>/<export>`), or one more endpoint of the
 * mount already there for the same alias and export, or new settings of an endpoint it has.
 * The credential is stored in the home's mount credential store under a handle, never in the
 * config. `EEXIST` when another alias or export is mounted at that path.
 */
export async function addMountEntry(
  opts: MountRequest & { home: string },
): Promise<{ added: MountAdded; path: string }> {
  const { url, alias, exportName } = opts;
  const path = mountPathOf({ path: opts.path, alias, export: exportName });
  const handle = `${alias}@${hostPortOf(url)}`;
  const endpoint = {
    url,
    credential: handle,
    ...(opts.fingerprint ? { fingerprint: opts.fingerprint } : {}),
  };
  let added: MountAdded = 'mount';
  await editMounts({
    root: opts.home,
    edit: async (mounts) => {
      const same = mounts.find((m) => mountPathOf(m) === path);
      if (same && (same.alias !== alias || same.export !== exportName))
        throw FsError.EEXIST('mount', path, `${same.alias}:${same.export} is mounted there`);
      // Stored only once the request is accepted (a refused one must not replace the credential
      // a mount of the same alias and host uses), and before the config names it.
      await saveMountCredential({ home: opts.home, handle, credential: opts.credential });
      if (same) {
        const existing = same.endpoint.find((e) => e.url === url);
        if (existing) {
          Object.assign(existing, endpoint);
          added = 'again';
        } else {
          same.endpoint.push(endpoint);
          added = 'endpoint';
        }
        return mounts;
      }
      const entry: MountEntry = {
        ...(opts.path === undefined ? {} : { path: opts.path }),
        alias,
        export: exportName,
        ro: opts.ro,
        rename: opts.rename,
        cache: opts.cache,
        endpoint: [endpoint],
      };
      return [...mounts, entry];
    },
  });
  return { added, path };
}

/**
 * Remove the mount at `path` from tessera.toml, and the stored credentials only it used.
 * `ENOENT` when nothing is mounted there.
 */
export async function removeMountEntry(opts: { home: string; path: string }): Promise<MountEntry> {
  let removed: MountEntry | undefined;
  let stillUsed = new Set<string>();
  await editMounts({
    root: opts.home,
    edit: (mounts) => {
      removed = mounts.find((m) => mountPathOf(m) === opts.path);
      if (!removed)
        throw FsError.ENOENT('unmount', opts.path, 'nothing is mounted there (see tessera mounts)');
      const rest = mounts.filter((m) => m !== removed);
      stillUsed = new Set(rest.flatMap((m) => m.endpoint.map((e) => e.credential)));
      return rest;
    },
  });
  const gone = removed!;
  const handles = gone.endpoint.map((e) => e.credential).filter((h) => !stillUsed.has(h));
  await removeMountCredentials({ home: opts.home, handles });
  return gone;
}
