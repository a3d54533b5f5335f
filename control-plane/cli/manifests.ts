// The documents of `-f FILE|DIR|-`: every YAML (or JSON) document of every file, each
// labelled `FILE:doc[i]` (i counts from 0 in its file, empty documents included, so the
// label points at the right place), and every problem found on the way, so a command can
// report them all and then fail once.

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import { UsageError, type FlagValue } from './command.ts';
import type { CliContext } from './context.ts';
import { lazy } from './lazy.ts';

const yaml = lazy<typeof import('yaml')>(import.meta.url, 'yaml');

export type Manifest = {
  /** `FILE:doc[i]`. */
  readonly where: string;
  /** `items[j].` for an item of a kubectl List document, else ''; goes before every field path. */
  readonly prefix: string;
  readonly doc: unknown;
  /** Position among all documents read, so problems found in later passes print in file order. */
  readonly seq: number;
};

/** One thing wrong: `where: path: message`, or `where: message` when no field is to blame. */
export type Problem = { readonly where: string; readonly path?: string; readonly message: string; readonly seq?: number };

export function formatProblem(p: Problem): string {
  return p.path === undefined ? `${p.where}: ${p.message}\n` : `${p.where}: ${p.path}: ${p.message}\n`;
}

/** Every problem, in the order of the documents they are about, then a closing line. */
export function formatProblems(problems: readonly Problem[], consequence: string): string {
  const ordered = [...problems].sort((a, b) => (a.seq ?? 0) - (b.seq ?? 0));
  return `${ordered.map(formatProblem).join('')}error: ${problems.length} problem${problems.length === 1 ? '' : 's'} found${consequence}\n`;
}

const MANIFEST_EXTENSIONS = new Set(['.yaml', '.yml', '.json']);
export const STDIN_LABEL = '<stdin>';

/** The `-f` option: repeatable, like kubectl's. */
export const FILENAME_OPTION = { filename: { type: 'string', short: 'f', multiple: true } } as const;

export function filenamesOf(flags: Record<string, FlagValue>): string[] {
  const f = flags.filename;
  return Array.isArray(f) ? f : typeof f === 'string' ? [f] : [];
}

export async function readManifests(filenames: readonly string[], ctx: CliContext): Promise<{ manifests: Manifest[]; problems: Problem[] }> {
  if (filenames.filter((f) => f === '-').length > 1) throw new UsageError("'-f -' (stdin) may be given once");
  const manifests: Manifest[] = [];
  const problems: Problem[] = [];
  const seq = { next: 0 };
  for (const name of filenames) {
    for (const source of expand(name, problems, seq)) {
      const text = source === STDIN_LABEL ? await ctx.readStdin() : readFileSync(source, 'utf8');
      parseStream(source, text, manifests, problems, seq);
    }
  }
  if (manifests.length === 0 && problems.length === 0) throw new UsageError(`no resources found in ${filenames.join(', ')}`);
  return { manifests, problems };
}

/** A directory is its manifest files in name order, not recursing; `-` is stdin. */
function expand(name: string, problems: Problem[], seq: { next: number }): string[] {
  if (name === '-') return [STDIN_LABEL];
  let isDir: boolean;
  try {
    isDir = statSync(name).isDirectory();
  } catch (err) {
    problems.push({ where: name, message: (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (err as Error).message, seq: seq.next++ });
    return [];
  }
  if (!isDir) return [name];
  const files = readdirSync(name, { withFileTypes: true })
    .filter((e) => e.isFile() && MANIFEST_EXTENSIONS.has(extname(e.name).toLowerCase()))
    .map((e) => e.name)
    .sort();
  if (files.length === 0) problems.push({ where: name, message: 'the directory holds no .yaml, .yml or .json file', seq: seq.next++ });
  return files.map((f) => join(name, f));
}

function parseStream(source: string, text: string, manifests: Manifest[], problems: Problem[], seq: { next: number }): void {
  const lineCounter = new (yaml().LineCounter)();
  // JSON is YAML 1.2, so one parser reads both.
  const docs = yaml().parseAllDocuments(text, { lineCounter, prettyErrors: false });
  [...docs].forEach((doc, i) => {
    const where = `${source}:doc[${i}]`;
    const at = seq.next++;
    if (doc.errors.length > 0) {
      for (const e of doc.errors) {
        const pos = lineCounter.linePos(e.pos[0]);
        problems.push({ where, path: `line ${pos.line}, column ${pos.col}`, message: e.message, seq: at });
      }
      return;
    }
    let value: unknown;
    try {
      value = doc.toJS();
    } catch (err) {
      return void problems.push({ where, message: (err as Error).message, seq: at });
    }
    if (value === null || value === undefined) return;
    if (isList(value)) value.items.forEach((item, j) => manifests.push({ where, prefix: `items[${j}].`, doc: item, seq: at }));
    else manifests.push({ where, prefix: '', doc: value, seq: at });
  });
}

/** What `sluicectl get -o yaml` prints for several resources, so its output applies again. */
function isList(v: unknown): v is { items: unknown[] } {
  if (typeof v !== 'object' || v === null) return false;
  const o = v as Record<string, unknown>;
  return o.apiVersion === 'v1' && o.kind === 'List' && Array.isArray(o.items);
}
