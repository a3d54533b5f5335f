// The README is a test (issue 16): the commands of its quick start and of its mesh section
// run verbatim, in a fresh folder, as a newcomer types them; its links point at files of
// the repo; the time it quotes is a recorded run; what its commands leave behind is
// git-ignored.
//
// How a block is marked to be run: an HTML comment on the line before its fence,
//   <!-- readme-test: quick-start -->      or      <!-- readme-test: mesh -->
// (GitHub renders nothing of it). This file runs the blocks named in BLOCKS; a block
// marked with another name is another test's. Each line is one command, typed into one
// bash (`export` carries over), and must exit 0. A line ending in `&` starts a process
// that keeps running, as a reader starts it in a terminal; the test waits for the ready
// log line of that program (READY, the line the README tells the reader to wait for)
// before the next command, and every such process is stopped by its pid (process group).
//
// The fresh folder holds the files git tracks, copied from this checkout. Two commands
// of the quick start are not run, for the reasons in NOT_RUN: `npm ci` (the test run has
// no network; the folder's node_modules is a symlink to this checkout's, installed from
// the same package-lock.json) and `npm test` (this test is part of it; its duration is a
// recorded run, test/e2e/npm-test-run.json, which the quoted time must match).

import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { after, test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { portsInUse, withFixedPorts } from '../helpers/fixed-ports.ts';
import { anchors, commandsOf, freshClone, markedBlocks, newcomerEnv, prose, ROOT, trackedFiles, withoutComment } from '../helpers/readme.ts';
import { ShellSession } from '../helpers/shell-session.ts';

const README = readFileSync(join(ROOT, 'README.md'), 'utf8');
const BLOCKS = ['quick-start', 'mesh'] as const;
const NOT_RUN: Record<string, string> = {
  'npm ci': "the test run has no network: the fresh folder's node_modules is a symlink to this checkout's",
  'npm test': 'this test is part of it: the time quoted is checked against test/e2e/npm-test-run.json',
};
/** The quick start's two commands (set up and run the demo; run the tests), as a newcomer types them. */
const QUICK_START = ['npm ci && npm run demo', 'npm test'];
/** A quick-start command as this test runs it: without what NOT_RUN says it cannot run. */
const runnable = (command: string) => withoutComment(command).replace(/^npm ci && /, '');
/** The programs a README line may start in the background, and the log line that says each is ready. */
const READY: readonly { program: RegExp; ready: RegExp }[] = [
  { program: /^npx sluice-cp\b/, ready: /"msg":"api listening"/ },
  { program: /^npx sluice-proxy\b/, ready: /"msg":"proxy ready"/ },
];
/** What the mesh section binds: sluice-cp's and the proxy's defaults, and orders-1's mesh port (examples/xds/workloads.yaml). */
const MESH_PORTS = [15014, 15012, 15010, 15000, 15001, 15020, 18502];

const sessions: ShellSession[] = [];
after(async () => {
  for (const s of sessions) await s.stop();
});

function block(name: string): string[] {
  const found = markedBlocks(README).filter((b) => b.name === name);
  assert.equal(found.length, 1, `README has ${found.length} blocks marked 'readme-test: ${name}'; want 1`);
  assert.equal(found[0].lang, 'sh', `the block '${name}' (README line ${found[0].line}) is not a sh block`);
  return commandsOf(found[0]);
}

/** Runs `commands` in a new bash in `cwd`; returns each command's result, in order. */
async function runBlock(name: string, cwd: string, commands: string[], timeoutMs: number) {
  const shell = new ShellSession(cwd, newcomerEnv(join(dirname(cwd), 'home')));
  sessions.push(shell);
  const results: { command: string; stdout: string; stderr: string }[] = [];
  for (const command of commands) {
    const bare = withoutComment(command);
    let ready: RegExp | undefined;
    if (bare.endsWith('&')) {
      ready = READY.find((r) => r.program.test(bare))?.ready;
      assert.ok(ready !== undefined, `${name}: '${bare}' runs in the background, but this test knows no ready line of it (add it to READY)`);
    }
    const r = await shell.run(command, { timeoutMs, ready });
    assert.equal(r.status, 0, `${name}: '${bare}' exited ${r.status}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
    results.push({ command: bare, stdout: r.stdout, stderr: r.stderr });
  }
  return { shell, results };
}

test('the quick start and the mesh section are each one sh block marked to be run', () => {
  for (const name of BLOCKS) assert.ok(block(name).length > 0, name);
  // The README opens with the two commands a newcomer runs on a fresh machine.
  assert.deepEqual(block('quick-start').map(withoutComment), QUICK_START, 'the quick start is: set up and run the demo; run the tests');
});

test("the quick start's commands run in a fresh folder", { timeout: 600_000 }, async () => {
  const clone = freshClone();
  const commands = block('quick-start').map(runnable).filter((c) => NOT_RUN[c] === undefined);
  assert.deepEqual(commands, ['npm run demo']);
  const { results } = await withFixedPorts(() => runBlock('quick-start', clone, commands, 300_000));
  const demo = results.find((r) => r.command === 'npm run demo')!;
  assert.match(demo.stdout, /demo done in [\d.]+ s: the traffic followed the split and the change; every process stopped/);
});

test("the mesh section's commands run verbatim in a fresh folder: examples/xds/ applies as a directory, a proxy joins, and what they leave is git-ignored", { timeout: 600_000 }, async () => {
  const clone = freshClone();
  const before = new Set(readdirSync(clone));
  const commands = block('mesh');
  await withFixedPorts(async () => {
    const busy = await portsInUse(MESH_PORTS);
    assert.deepEqual(busy, [], `the mesh section binds ${MESH_PORTS.join(', ')}, and something here listens on ${busy.join(', ')}`);
    const { shell, results } = await runBlock('mesh', clone, commands, 60_000);
    const out = (prefix: string) => results.find((r) => r.command.startsWith(prefix))!.stdout;

    // examples/xds/ as a directory: each document of its files (not of changes/), created.
    const applied = out('npx sluicectl apply -f examples/xds/');
    const names = readdirSync(join(clone, 'examples/xds')).filter((f) => f.endsWith('.yaml'));
    for (const f of names) {
      for (const doc of parseAllDocuments(readFileSync(join(clone, 'examples/xds', f), 'utf8'))) {
        const m = doc.toJS() as { metadata: { name: string } };
        assert.match(applied, new RegExp(`/${m.metadata.name} created\\n`), `${f}: ${m.metadata.name}`);
      }
    }
    assert.doesNotMatch(applied, /route-change|orders-split configured/, 'changes/ is not read');
    assert.match(out('npx sluicectl token create'), /written to orders\.token/);
    assert.match(out('npx sluicectl proxy-status'), /orders-1\.default/);
    assert.match(out('npx sluicectl proxy-config routes orders-1.default'), /orders/);

    // The README's last line stops what it started.
    assert.ok(commands.at(-1)!.startsWith('kill '), 'the mesh section ends by stopping what it started');
    assert.deepEqual(await shell.jobsGone(20_000), [], "processes still running after the README's kill line");
  });

  const left = readdirSync(clone).filter((f) => !before.has(f));
  assert.ok(left.includes('sluice-data') && left.includes('sluice-identity') && left.includes('orders.token'), `left behind: ${left.join(', ')}`);
  for (const f of left) {
    // A directory is named with its '/', so patterns for directories only (`/sluice-data/`) are read as git reads them.
    const path = statSync(join(clone, f)).isDirectory() ? `${f}/` : f;
    const r = spawnSync('git', ['check-ignore', '--no-index', '-q', path], { cwd: ROOT });
    assert.equal(r.status, 0, `the mesh section leaves '${f}' in the clone, and .gitignore does not ignore it`);
  }
});

// --- links ---

/** Every [text](target) of `file` that is not a URL, with its line. */
function links(file: string): { line: number; target: string }[] {
  const out: { line: number; target: string }[] = [];
  prose(readFileSync(join(ROOT, file), 'utf8'))
    .split('\n')
    .forEach((l, i) => {
      for (const m of l.matchAll(/\]\(([^)\s]+)\)/g)) if (!/^[a-z]+:/.test(m[1])) out.push({ line: i + 1, target: m[1] });
    });
  return out;
}

for (const file of ['README.md', 'xds/SUBSET.md']) {
  test(`the links of ${file} point at files of the repo and at headings they have`, () => {
    const tracked = new Set(trackedFiles());
    const dirs = new Set([...tracked].flatMap((f) => f.split('/').slice(0, -1).map((_, i, parts) => parts.slice(0, i + 1).join('/'))));
    const bad: string[] = [];
    const found = links(file);
    assert.ok(found.length > 0);
    for (const { line, target } of found) {
      const [path, anchor] = target.split('#');
      const to = path === '' ? file : normalize(join(dirname(file), path)).replace(/\/$/, '');
      if (to.startsWith('..') || (!tracked.has(to) && !dirs.has(to))) {
        bad.push(`${file}:${line}: ${target}: no file ${to} in the repo`);
        continue;
      }
      if (anchor !== undefined && !anchors(readFileSync(join(ROOT, to), 'utf8')).has(anchor)) bad.push(`${file}:${line}: ${target}: ${to} has no heading #${anchor}`);
    }
    assert.deepEqual(bad, []);
  });
}

test('README names no file outside the repo', () => {
  const outside = prose(README)
    .split('\n')
    .flatMap((l, i) => [...l.matchAll(/`(\.\.\/[^`]*)`/g)].map((m) => `README.md:${i + 1}: ${m[1]}`));
  assert.deepEqual(outside, []);
});

// --- times ---

test('the time the quick start quotes for npm test is that of a recorded run', () => {
  const run = JSON.parse(readFileSync(join(ROOT, 'test/e2e/npm-test-run.json'), 'utf8')) as { date: string; seconds: number; cores: number };
  const line = block('quick-start').find((c) => withoutComment(c) === 'npm test')!;
  const m = /about (\d+) minutes on (\d+) cores/.exec(line);
  assert.ok(m !== null, `the npm test line says no 'about N minutes on C cores': ${line}`);
  assert.equal(Number(m[1]), Math.round(run.seconds / 60), `README says about ${m[1]} minutes; the run of ${run.date} took ${run.seconds} s`);
  assert.equal(Number(m[2]), run.cores);
  assert.match(run.date, /^\d{4}-\d{2}-\d{2}$/);
});

// --- what is ignored ---

test('identity folders, token files and the data folder are git-ignored', () => {
  for (const f of ['sluice-data/', 'sluice-identity/', 'orders.token', 'examples/xds/sluice-identity/key.pem']) {
    assert.equal(spawnSync('git', ['check-ignore', '--no-index', '-q', f], { cwd: ROOT }).status, 0, f);
  }
  assert.equal(execFileSync('git', ['ls-files', '*.token', '*sluice-identity*'], { cwd: ROOT, encoding: 'utf8' }), '', 'no token or identity file is tracked');
});
