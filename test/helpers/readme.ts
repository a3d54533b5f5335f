// Reading README.md as a test reads it: its marked shell blocks, one section's fenced
// blocks, its links and GitHub's anchors of its headings, and a fresh folder holding what
// a clone of the repo holds.

import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, realpathSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export type Block = { readonly name: string; readonly line: number; readonly lang: string; readonly text: string };

/**
 * The fenced blocks marked `<!-- readme-test: NAME ... -->` on the line before the fence
 * (an HTML comment: GitHub shows nothing of it, so a reader does not trip on it).
 */
export function markedBlocks(markdown: string): Block[] {
  const lines = markdown.split('\n');
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length - 1; i++) {
    const mark = /^<!--\s*readme-test:\s*([\w-]+)\b.*-->\s*$/.exec(lines[i]);
    if (mark === null) continue;
    const fence = /^```(\w*)\s*$/.exec(lines[i + 1]);
    if (fence === null) throw new Error(`README line ${i + 1}: the readme-test mark '${mark[1]}' is not followed by a fenced block`);
    const end = lines.findIndex((l, j) => j > i + 1 && /^```\s*$/.test(l));
    if (end < 0) throw new Error(`README line ${i + 2}: the fence of '${mark[1]}' is never closed`);
    blocks.push({ name: mark[1], line: i + 2, lang: fence[1], text: lines.slice(i + 2, end).join('\n') });
  }
  return blocks;
}

/** The fenced blocks between the heading `heading` (any level) and the next heading of that level or higher. */
export function sectionBlocks(markdown: string, heading: string): Block[] {
  const lines = markdown.split('\n');
  const start = lines.findIndex((l) => /^#+ /.test(l) && l.replace(/^#+ /, '') === heading);
  if (start < 0) throw new Error(`README has no heading '${heading}'`);
  const level = /^#+/.exec(lines[start])![0].length;
  const blocks: Block[] = [];
  for (let i = start + 1; i < lines.length; i++) {
    const h = /^(#+) /.exec(lines[i]);
    if (h !== null && h[1].length <= level) break;
    const fence = /^```(\w*)\s*$/.exec(lines[i]);
    if (fence === null) continue;
    const end = lines.findIndex((l, j) => j > i && /^```\s*$/.test(l));
    blocks.push({ name: heading, line: i + 1, lang: fence[1], text: lines.slice(i + 1, end).join('\n') });
    i = end;
  }
  return blocks;
}

/** A block's commands, one a line (`\` continues a line), blank and comment-only lines left out. */
export function commandsOf(block: Block): string[] {
  return block.text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.trim().startsWith('#'));
}

/** A command without its trailing `# comment`. */
export function withoutComment(command: string): string {
  return command.replace(/\s+#.*$/, '').trim();
}

/** The markdown with its fenced blocks blanked out (lines kept, so line numbers hold). */
export function prose(markdown: string): string {
  let inFence = false;
  return markdown
    .split('\n')
    .map((l) => {
      if (/^```/.test(l)) {
        inFence = !inFence;
        return '';
      }
      return inFence ? '' : l;
    })
    .join('\n');
}

/** GitHub's anchors of a markdown file's headings (lower case, punctuation dropped, spaces to '-', repeats numbered). */
export function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const line of prose(markdown).split('\n')) {
    const h = /^#{1,6} (.*)$/.exec(line);
    if (h === null) continue;
    const base = h[1]
      .trim()
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

/** The files git tracks, relative to ROOT: what a clone holds. */
export function trackedFiles(): string[] {
  return execFileSync('git', ['ls-files', '-z'], { cwd: ROOT, encoding: 'utf8' })
    .split('\0')
    .filter((f) => f !== '');
}

/**
 * A fresh folder as a newcomer's clone is: every file git tracks, copied from this
 * checkout as it is now. `npm ci` needs the network, which a test run does not have, so
 * the folder's node_modules is a symlink to this checkout's (installed by the same
 * package-lock.json).
 */
export function freshClone(): string {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-readme-'));
  const clone = join(dir, 'sluice');
  for (const f of trackedFiles()) {
    mkdirSync(dirname(join(clone, f)), { recursive: true });
    try {
      cpSync(join(ROOT, f), join(clone, f));
    } catch (err) {
      // Deleted in this checkout but not yet from the index: a clone would not have it either once committed.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  symlinkSync(realpathSync(join(ROOT, 'node_modules')), join(clone, 'node_modules'));
  return clone;
}

/** The environment of a newcomer's shell: this one's PATH, a home of its own, nothing of Sluice's or npm's set. */
export function newcomerEnv(home: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^(SLUICE_|npm_|NODE_TEST_CONTEXT$|NODE_OPTIONS$|NODE_COMPILE_CACHE$|INIT_CWD$)/i.test(k)) continue;
    env[k] = v;
  }
  mkdirSync(home, { recursive: true });
  return { ...env, HOME: home };
}
