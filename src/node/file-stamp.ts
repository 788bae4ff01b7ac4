import { stat } from 'node:fs/promises';

/**
 * A cheap change stamp of a file: inode, size and mtime, or `none` when it does not exist.
 * Files the node polls (tessera.toml, the credential stores) are rewritten by rename, so a
 * change always shows as a new stamp; reading them again only then spares a read and a
 * parse per look.
 */
export async function fileStamp(file: string): Promise<string> {
  const st = await stat(file).catch(() => undefined);
  return st ? `${st.ino}:${st.size}:${st.mtimeMs}` : 'none';
}
