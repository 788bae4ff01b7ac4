/**
 * Everything a benchmark set up, undone in reverse order: every step runs even when an
 * earlier one fails (the first failure is rethrown at the end). SIGINT/SIGTERM run it too,
 * so an interrupted benchmark leaves no server, mount or temp directory behind.
 */
export class Teardown implements AsyncDisposable {
  readonly #steps: { what: string; fn: () => Promise<unknown> }[] = [];
  #running: Promise<void> | undefined;
  readonly #onSignal = (signal: NodeJS.Signals) => {
    process.stderr.write(`\n${signal}: tearing down\n`);
    void this.run().finally(() => process.exit(130));
  };

  constructor() {
    process.once('SIGINT', this.#onSignal);
    process.once('SIGTERM', this.#onSignal);
  }

  /** Register an undo step (runs before the steps added earlier). */
  add(what: string, fn: () => Promise<unknown>): void {
    this.#steps.push({ what, fn });
  }

  /** Run every step, newest first. Idempotent. */
  run(): Promise<void> {
    this.#running ??= (async () => {
      process.off('SIGINT', this.#onSignal);
      process.off('SIGTERM', this.#onSignal);
      let first: Error | undefined;
      while (this.#steps.length > 0) {
        const step = this.#steps.pop()!;
        try {
          await step.fn();
        } catch (err) {
          process.stderr.write(`teardown: ${step.what} failed: ${(err as Error).message}\n`);
          first ??= err instanceof Error ? err : new Error(String(err));
        }
      }
      if (first !== undefined) throw first;
    })();
    return this.#running;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.run();
  }
}
