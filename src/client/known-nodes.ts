import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { z } from 'zod';
import { FsError } from '../core/fs-error.ts';

const fileSchema = z.record(
  z.string().max(512),
  z.strictObject({ fingerprint: z.string().regex(/^[0-9A-F]{2}(:[0-9A-F]{2}){31}$/), since: z.string() }),
);

/** What the pinning check concluded. */
export type PinResult = { status: 'pinned-now' } | { status: 'match' };

/**
 * Server certificate pins (trust on first use): `host:port` → SHA-256 fingerprint, kept in
 * a JSON file in the client's home. A changed certificate is refused with an error that
 * says how to accept it.
 */
export class KnownNodes {
  constructor(readonly file: string) {}

  async #load(): Promise<z.infer<typeof fileSchema>> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (err) {
      if ((err as { code?: string }).code === 'ENOENT') return {};
      throw FsError.from(err, 'known nodes', this.file);
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw FsError.EINVAL('known nodes', this.file, 'not valid JSON; fix or remove the file');
    }
    const parsed = fileSchema.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw FsError.EINVAL(
        'known nodes',
        this.file,
        `bad entry ${issue?.path.join('.') ?? ''}: ${issue?.message ?? ''}`,
      );
    }
    return parsed.data;
  }

  async #save(data: z.infer<typeof fileSchema>): Promise<void> {
    await mkdir(dirname(this.file), { recursive: true, mode: 0o700 });
    const tmp = `${this.file}.${process.pid}.tmp`;
    await writeFile(tmp, JSON.stringify(data, null, 2) + '\n', { mode: 0o600 });
    await rename(tmp, this.file);
  }

  /** The pinned fingerprint of `hostPort`, if any. */
  async get(hostPort: string): Promise<string | undefined> {
    return (await this.#load())[hostPort]?.fingerprint;
  }

  /** Pin (or re-pin) a fingerprint for `hostPort`. */
  async set(hostPort: string, fingerprint: string): Promise<void> {
    const data = await this.#load();
    data[hostPort] = { fingerprint, since: new Date().toISOString() };
    await this.#save(data);
  }

  /** Forget `hostPort`; whether it was known. */
  async remove(hostPort: string): Promise<boolean> {
    const data = await this.#load();
    if (!(hostPort in data)) return false;
    delete data[hostPort];
    await this.#save(data);
    return true;
  }

  /**
   * Check a server's certificate against the pin: pin it on first contact, accept a match,
   * refuse a change (EACCES) with the way to accept it.
   */
  async check(opts: { hostPort: string; url: string; fingerprint: string }): Promise<PinResult> {
    const pinned = await this.get(opts.hostPort);
    if (pinned === undefined) {
      await this.set(opts.hostPort, opts.fingerprint);
      return { status: 'pinned-now' };
    }
    if (pinned === opts.fingerprint) return { status: 'match' };
    throw FsError.EACCES(
      'connect',
      opts.url,
      `the server's certificate changed (pinned ${pinned}, now ${opts.fingerprint}); if you expect this ` +
        `change, accept it with: tessera trust ${opts.url} --fingerprint ${opts.fingerprint}`,
    );
  }
}
