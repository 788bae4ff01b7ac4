import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/** What {@link loadAddon} found: the addon's exports (unchecked: the caller's wrapper knows their shape), or why there are none. */
export type LoadedAddon = { file: string } & (
  { exports: Record<string, unknown>; error?: undefined } | { exports?: undefined; error: Error }
);

/**
 * Loads one of the native addons `npm ci` builds into `build/Release/` (docs/native.md) without
 * ever throwing: each wrapper reports a missing addon as a flag and a reason, so that code on
 * other systems, or in a checkout not built yet, takes its fallback or says why it cannot.
 */
export function loadAddon(opts: { name: string }): LoadedAddon {
  const { name } = opts;
  const file = fileURLToPath(new URL(`../../build/Release/${name}.node`, import.meta.url));
  if (process.platform !== 'linux') {
    return { file, error: new Error(`the ${name} addon is Linux-only (platform: ${process.platform})`) };
  }
  try {
    return { file, exports: createRequire(import.meta.url)(file) as Record<string, unknown> };
  } catch (err) {
    const error = err instanceof Error ? err : new Error(String(err));
    error.message = `cannot load the ${name} addon from ${file} (did \`npm ci\` build it?): ${error.message}`;
    return { file, error };
  }
}
