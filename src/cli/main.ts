// The `tessera` executable: bin/tessera.js loads this through tsx; `npm start -- …` runs it directly.
import { EXIT_INTERNAL_ERROR } from '../core/errno.ts';
import { runCli } from './cli.ts';

// An error escaping every handler (an adapter's event emitter, say) is a bug: say so on one
// line and exit with the internal-error code rather than node's default 1 (which is EPERM).
process.on('uncaughtException', (err) => {
  process.stderr.write(`tessera: internal error: ${err.message.replace(/\s*\n\s*/g, ' ')}\n`);
  if (process.env.TESSERA_DEBUG === '1' && err.stack) process.stderr.write(`${err.stack}\n`);
  process.exit(EXIT_INTERNAL_ERROR);
});

// Libraries warn on stderr in multi-line prose (the AWS SDK about future Node versions), which
// would break the CLI's one-line errors: warnings become one `tessera: warning:` line, and the
// purely advisory version notice shows only with TESSERA_DEBUG=1.
process.removeAllListeners('warning');
process.on('warning', (warning) => {
  const debug = process.env.TESSERA_DEBUG === '1';
  const advisory = /^NodeVersionSupportWarning\b/.test(
    `${warning.name === 'Warning' ? '' : warning.name}${warning.message}`,
  );
  if (advisory && !debug) return;
  process.stderr.write(`tessera: warning: ${warning.name}: ${warning.message.replace(/\s*\n\s*/g, ' ')}\n`);
});

const code = await runCli({ argv: process.argv.slice(2) });
process.exitCode = code;
// A Source that leaks a handle must not keep a finished command hanging.
setTimeout(() => {
  if (process.env.TESSERA_DEBUG === '1') process.stderr.write('tessera: forced exit: handles still open\n');
  process.exit(code);
}, 2000).unref();
