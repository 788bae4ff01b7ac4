import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

/** docs/benchmarks.md of this repository. */
export const BENCHMARKS_DOC = fileURLToPath(new URL('../../docs/benchmarks.md', import.meta.url));

const DOC_HEADER = `# Benchmarks

Each section is written by its benchmark (\`node --import tsx bench/<name>.bench.ts --scale full\`)
and replaced when it runs again. Figures from one run on one machine: compare within a
section, not across machines.
`;

/** Print the one machine-readable result line (last line of a benchmark's output). */
export function printJsonLine(result: unknown): void {
  console.log(JSON.stringify(result, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)));
}

/**
 * Replace the section `## <title>` of the benchmarks document with `body` (adding it at the
 * end if absent), leaving every other section as it is.
 */
export async function writeDocSection(opts: { title: string; body: string; file?: string }): Promise<void> {
  const file = opts.file ?? BENCHMARKS_DOC;
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    text = DOC_HEADER;
  }
  const heading = `## ${opts.title}`;
  const section = `${heading}\n\n${opts.body.trim()}\n`;
  const lines = text.split('\n');
  const start = lines.findIndex((l) => l.trim() === heading);
  if (start === -1) {
    text = `${text.trimEnd()}\n\n${section}`;
  } else {
    let end = lines.findIndex((l, i) => i > start && /^## /.test(l));
    if (end === -1) end = lines.length;
    const before = lines.slice(0, start).join('\n').trimEnd();
    const after = lines.slice(end).join('\n').trim();
    text = `${before}\n\n${section}${after ? `\n${after}\n` : ''}`;
  }
  await writeFile(file, text.endsWith('\n') ? text : `${text}\n`);
}

/** A Markdown table. */
export function table(head: readonly string[], rows: readonly (readonly (string | number)[])[]): string {
  const line = (cells: readonly (string | number)[]) => `| ${cells.join(' | ')} |`;
  return [line(head), line(head.map(() => '---')), ...rows.map(line)].join('\n');
}
