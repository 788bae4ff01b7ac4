import { exitCodeOf } from '../core/errno.ts';

/**
 * The first SIGINT or SIGTERM of a long-running command (a second one ends the process at
 * once). `cancel` removes the handlers when the command never started.
 */
export function untilSignal(opts: { io: { err(text: string): void }; command: string }): {
  signal: Promise<NodeJS.Signals>;
  cancel(): void;
} {
  let onSignal: (signal: NodeJS.Signals) => void = () => undefined;
  const signal = new Promise<NodeJS.Signals>((resolve) => {
    onSignal = (sig) => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      const again = () => {
        opts.io.err(`tessera: ${opts.command}: stopping now (second signal)\n`);
        process.exit(exitCodeOf('EINTR'));
      };
      process.once('SIGINT', again);
      process.once('SIGTERM', again);
      resolve(sig);
    };
  });
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    signal,
    cancel: () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}
