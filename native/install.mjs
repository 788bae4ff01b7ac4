#!/usr/bin/env node
// npm `install` hook of the root package: builds the Linux-only addon with the node-gyp that
// ships with npm. On other systems there is nothing to build, and letting npm run node-gyp
// implicitly (as it does whenever binding.gyp exists) would demand a C toolchain there, e.g.
// Visual Studio on Windows, and fail `npm ci` without one.
import { spawnSync } from 'node:child_process';

if (process.platform !== 'linux') {
  console.log(`tessera: the native addon is Linux-only; nothing to build on ${process.platform}`);
  process.exit(0);
}
// npm tells lifecycle scripts where its bundled node-gyp is; `node-gyp` on PATH otherwise.
const nodeGyp = process.env.npm_config_node_gyp;
const [cmd, args] = nodeGyp ? [process.execPath, [nodeGyp, 'rebuild']] : ['node-gyp', ['rebuild']];
const result = spawnSync(cmd, args, { stdio: 'inherit' });
if (result.error) console.error(`tessera: cannot run node-gyp: ${result.error.message}`);
process.exit(result.status ?? 1);
