// The `tessera` executable: bin/tessera.js loads this through tsx; `npm start -- …` runs it directly.
import { runCli } from './cli.ts';

const code = await runCli({ argv: process.argv.slice(2) });
process.exitCode = code;
// A Source that leaks a handle must not keep a finished command hanging.
setTimeout(() => {
  if (process.env.TESSERA_DEBUG === '1') process.stderr.write('tessera: forced exit: handles still open\n');
  process.exit(code);
}, 2000).unref();
