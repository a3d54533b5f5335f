// deploy/images/: the Dockerfiles of sluice-cp and sluice-proxy. No image registry is
// reachable here (the base image cannot be pulled), and hadolint is not packaged, so the
// files are parsed and what they promise is checked against the repository: every file
// copied exists, every module the program loads is copied, the final stage runs as a
// non-root user, dependencies come from the lockfile without dev ones, and the compile
// cache step really fills a cache that the image's ENTRYPOINT then starts from, with
// no TypeScript file stripped again.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parse } from 'yaml';
import { PROXY_NODE_FLAGS } from '../../proxy/node-flags.ts';
import { REPO } from './kube-objects.ts';
import { PROXY_UID } from '../../control-plane/inject/config.ts';

type Instruction = { op: string; args: string; line: number };
type Stage = { from: string; name?: string; instructions: Instruction[] };

/** A Dockerfile's instructions, continuation lines joined, comments dropped; an unknown instruction is an error. */
export function parseDockerfile(text: string, file: string): { args: Map<string, string>; stages: Stage[] } {
  const KNOWN = new Set(['FROM', 'RUN', 'CMD', 'LABEL', 'EXPOSE', 'ENV', 'ADD', 'COPY', 'ENTRYPOINT', 'VOLUME', 'USER', 'WORKDIR', 'ARG', 'ONBUILD', 'STOPSIGNAL', 'HEALTHCHECK', 'SHELL']);
  const args = new Map<string, string>();
  const stages: Stage[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const start = i;
    if (/^\s*(#|$)/.test(lines[i])) continue;
    let logical = lines[i];
    while (/\\\s*$/.test(logical) && i + 1 < lines.length) logical = logical.replace(/\\\s*$/, ' ') + lines[++i].replace(/^\s*#.*$/, '');
    const m = /^\s*([A-Za-z]+)\s+(.*)$/.exec(logical);
    if (m === null) throw new Error(`${file}:${start + 1}: not an instruction: ${logical}`);
    const op = m[1].toUpperCase();
    if (!KNOWN.has(op)) throw new Error(`${file}:${start + 1}: unknown instruction ${m[1]}`);
    const ins = { op, args: m[2].trim(), line: start + 1 };
    if (op === 'FROM') {
      const f = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args);
      if (f === null) throw new Error(`${file}:${ins.line}: FROM ${ins.args}`);
      stages.push({ from: f[1], name: f[2], instructions: [] });
    } else if (stages.length === 0) {
      if (op !== 'ARG') throw new Error(`${file}:${ins.line}: ${op} before the first FROM`);
      const a = /^(\w+)(?:=(.*))?$/.exec(ins.args)!;
      args.set(a[1], a[2] ?? '');
    } else stages.at(-1)!.instructions.push(ins);
  }
  return { args, stages };
}

/** An exec-form (JSON array) argument list; shell form is refused where the image has to run it without a shell's help. */
function execForm(ins: Instruction, file: string): string[] {
  assert.ok(ins.args.startsWith('['), `${file}:${ins.line}: ${ins.op} in exec form (a JSON array)`);
  return JSON.parse(ins.args) as string[];
}

/** The repository files a program loads (its static import graph, as Node resolves it), relative to the repository. */
function modulesLoaded(script: string, flags: readonly string[]): string[] {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-images-'));
  try {
    const hook = join(dir, 'hook.mjs');
    const log = join(dir, 'loaded.txt');
    writeFileSync(hook, `import module from 'node:module';\nimport { appendFileSync } from 'node:fs';\nmodule.registerHooks({ load(url, ctx, next) { appendFileSync(${JSON.stringify(log)}, url + '\\n'); return next(url, ctx); } });\n`);
    const r = spawnSync(process.execPath, [...flags, '--import', pathToFileURL(hook).href, script, '--version'], { cwd: REPO, encoding: 'utf8', env: { ...process.env, NODE_COMPILE_CACHE: '' } });
    assert.equal(r.status, 0, r.stderr);
    const repo = pathToFileURL(REPO).href;
    return readFileSync(log, 'utf8').split('\n').filter((u) => u.startsWith(repo)).map((u) => relative(REPO, fileURLToPath(u))).filter((f) => !f.startsWith('node_modules/'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const IMAGES = [
  { file: 'sluice-cp.Dockerfile', entry: 'control-plane/main.ts', flags: [] as readonly string[] },
  { file: 'sluice-proxy.Dockerfile', entry: 'proxy/main.ts', flags: PROXY_NODE_FLAGS },
];

for (const image of IMAGES) {
  const path = join(REPO, 'deploy/images', image.file);
  const { args, stages } = parseDockerfile(readFileSync(path, 'utf8'), image.file);
  const final = stages.at(-1)!;
  const workdir = final.instructions.filter((i) => i.op === 'WORKDIR').at(-1)?.args ?? '/';
  const entrypoint = execForm(final.instructions.find((i) => i.op === 'ENTRYPOINT')!, image.file);

  describe(`deploy/images/${image.file}`, () => {
    test('builds on a Node 24 Debian slim image, as a build argument, in two stages', () => {
      assert.match(args.get('NODE_IMAGE') ?? '', /^docker\.io\/library\/node:24-[a-z]+-slim$/);
      assert.equal(stages.length, 2);
      for (const s of stages) assert.equal(s.from, '${NODE_IMAGE}');
    });

    test('installs exactly the locked production dependencies, without install scripts', () => {
      const deps = stages[0].instructions;
      assert.ok(deps.some((i) => i.op === 'COPY' && i.args.split(/\s+/).includes('package-lock.json')), 'copies the lockfile');
      const npm = deps.filter((i) => i.op === 'RUN').map((i) => execForm(i, image.file));
      assert.deepEqual(npm, [['npm', 'ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund']]);
      assert.ok(final.instructions.some((i) => i.op === 'COPY' && i.args === `--from=${stages[0].name} ${workdir}/node_modules ./node_modules`), 'the final stage takes node_modules from the first');
    });

    test('every file it copies exists, and every module the program loads is copied', () => {
      const copied: string[] = [];
      for (const s of stages) {
        for (const i of s.instructions.filter((x) => x.op === 'COPY' && !x.args.startsWith('--from='))) {
          const parts = i.args.split(/\s+/);
          for (const src of parts.slice(0, -1)) {
            assert.ok(existsSync(join(REPO, src)), `${image.file}:${i.line}: COPY ${src}: no such file in the repository`);
            copied.push(src);
          }
        }
      }
      assert.ok(!copied.some((c) => c === '.' || c === 'node_modules' || c === 'test'), 'copies no whole tree, no node_modules, no tests');
      const loaded = modulesLoaded(image.entry, image.flags);
      assert.ok(loaded.length > 20, `${image.entry} loads ${loaded.length} files`);
      const missing = loaded.filter((f) => !copied.some((c) => f === c || f.startsWith(`${c}/`)));
      assert.deepEqual(missing, [], `${image.entry} loads files the image does not copy`);
    });

    test("runs as a non-root user; ENTRYPOINT is the program, with proxy/node-flags.ts's flags for the proxy", () => {
      const user = final.instructions.filter((i) => i.op === 'USER').at(-1);
      assert.ok(user !== undefined, 'a USER in the final stage');
      assert.match(user.args, /^[1-9]\d*:[1-9]\d*$/, 'numeric uid:gid, not root (runAsNonRoot can check a number)');
      assert.ok(final.instructions.indexOf(user) < final.instructions.findIndex((i) => i.op === 'ENTRYPOINT'));
      if (image.file === 'sluice-cp.Dockerfile') {
        // The baked compile cache is the image user's: the Deployment runs the pod as the same uid.
        const pod = parse(readFileSync(join(REPO, 'deploy/kubernetes/base/deployment.yaml'), 'utf8')).spec.template.spec;
        assert.equal(user.args, `${pod.securityContext.runAsUser}:${pod.securityContext.runAsGroup}`);
      } else {
        // The injector runs the sidecar as PROXY_UID, the uid capture install leaves unredirected.
        assert.equal(user.args, `${PROXY_UID}:${PROXY_UID}`);
      }
      assert.deepEqual(entrypoint, ['node', ...image.flags, `${workdir}/${image.entry}`]);
    });

    test("bakes Node's compile cache: its RUN fills NODE_COMPILE_CACHE so that a start of the ENTRYPOINT strips no TypeScript again", () => {
      const env = final.instructions.filter((i) => i.op === 'ENV').map((i) => i.args).join(' ');
      const cacheDir = /NODE_COMPILE_CACHE=(\S+)/.exec(env)?.[1];
      assert.ok(cacheDir !== undefined && cacheDir.startsWith(`${workdir}/`), `ENV NODE_COMPILE_CACHE under ${workdir}`);
      const envAt = final.instructions.findIndex((i) => i.op === 'ENV' && i.args.includes('NODE_COMPILE_CACHE='));
      const bakes = final.instructions.slice(envAt).filter((i) => i.op === 'RUN' && i.args.startsWith('[')).map((i) => execForm(i, image.file)).filter((a) => a.includes(image.entry));
      assert.equal(bakes.length, 1, `one RUN after ENV NODE_COMPILE_CACHE starts ${image.entry}`);
      const bake = bakes[0];
      // Node keys the cache's folder by uid (<version>-<arch>-<hash>-<uid>): baked as root, it is never read by the image's user.
      const userAt = final.instructions.findLastIndex((i) => i.op === 'USER');
      assert.ok(userAt >= 0 && final.instructions.findIndex((i) => i.op === 'RUN' && i.args.startsWith('[') && execForm(i, image.file).includes(image.entry)) > userAt, 'the cache is baked after the final USER, as the user that starts the image');
      assert.ok(final.instructions.slice(0, userAt).some((i) => i.op === 'RUN' && i.args.startsWith('[') && execForm(i, image.file).join(' ') === `install -d -o ${final.instructions[userAt].args.split(':')[0]} -g ${final.instructions[userAt].args.split(':')[1]} ${cacheDir}`), "the cache's folder is made for that user");
      assert.deepEqual(bake.slice(0, -2), ['node', ...image.flags], 'with the flags the ENTRYPOINT has');
      // Here, the repository stands for WORKDIR.
      const cache = mkdtempSync(join(tmpdir(), 'sluice-compile-cache-'));
      try {
        const env = { ...process.env, NODE_COMPILE_CACHE: cache };
        const first = spawnSync(process.execPath, bake.slice(1), { cwd: REPO, env, encoding: 'utf8' });
        assert.equal(first.status, 0, first.stderr);
        const start = entrypoint.slice(1).map((a) => a.replace(`${workdir}/`, REPO));
        const second = spawnSync(process.execPath, [...start, '--version'], { cwd: '/', env: { ...env, NODE_DEBUG_NATIVE: 'COMPILE_CACHE' }, encoding: 'utf8' });
        assert.equal(second.status, 0, second.stderr);
        const log = second.stderr;
        const ts = new Set([...log.matchAll(/StrippedTypeScript (file:\/\/\S+?)(?:\.\.\.| |$)/gm)].map((m) => m[1]));
        const hits = new Set([...log.matchAll(/retrieving transpile cache for StrippedTypeScript (file:\/\/\S+?)\.\.\.success/g)].map((m) => m[1]));
        assert.ok(ts.size > 20, `the start reads ${ts.size} TypeScript files`);
        assert.deepEqual([...ts].filter((u) => !hits.has(u)), [], 'TypeScript files stripped again at start');
        assert.doesNotMatch(log, /writing cache for StrippedTypeScript/);
      } finally {
        rmSync(cache, { recursive: true, force: true });
      }
    });
  });
}

test('the Dockerfile parser refuses what is not a Dockerfile', () => {
  assert.throws(() => parseDockerfile('FROM x\nRUNN echo\n', 'f'), /f:2: unknown instruction RUNN/);
  assert.throws(() => parseDockerfile('COPY a b\n', 'f'), /f:1: COPY before the first FROM/);
  const { stages } = parseDockerfile('ARG A=1\nFROM ${A} AS one\nRUN a \\\n  b\n# c\nFROM x\n', 'f');
  assert.deepEqual(stages.map((s) => [s.from, s.name, s.instructions.map((i) => i.args)]), [['${A}', 'one', ['a    b']], ['x', undefined, []]]);
});
