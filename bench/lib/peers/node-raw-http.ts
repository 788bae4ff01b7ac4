import { freePort, LOOPBACK, startDaemon, waitForPort } from './processes.ts';

/**
 * The platform's ceiling for an HTTP GET of a file from Node: a bare `node:http` server in its
 * own process that pipes `fs.createReadStream` (1 MiB reads) into the response, with no
 * authentication, no Source and no WebDAV. Any path answers with that one file.
 */
const SERVER = `
const http = require('node:http');
const fs = require('node:fs');
const [file, port] = process.argv.slice(1);
const size = fs.statSync(file).size;
http
  .createServer((req, res) => {
    res.writeHead(200, { 'Content-Length': size, 'Content-Type': 'application/octet-stream' });
    fs.createReadStream(file, { highWaterMark: 1 << 20 }).pipe(res);
  })
  .listen(Number(port), '${LOOPBACK}');
`;

/** A running bare Node HTTP file server (see {@link startNodeRawHttp}). */
export interface NodeRawHttp {
  url: string;
  pid: number | undefined;
  stop(): Promise<void>;
}

/** Serve `file` from a bare Node HTTP server on a free port of 127.0.0.1. */
export async function startNodeRawHttp(opts: { file: string }): Promise<NodeRawHttp> {
  const port = await freePort();
  const daemon = startDaemon({
    server: true,
    name: 'bare node:http file server',
    cmd: process.execPath,
    args: ['-e', SERVER, opts.file, String(port)],
  });
  try {
    await waitForPort({ port, daemon });
  } catch (err) {
    await daemon.stop();
    throw err;
  }
  return { url: `http://${LOOPBACK}:${port}/file`, pid: daemon.proc.pid, stop: () => daemon.stop() };
}
