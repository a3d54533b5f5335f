// `node test/bench/cli-start.ts`: how fast sluicectl starts, as a CLI should (issue 16):
// wall time and peak RSS of `sluicectl --help`, `version`, `get` and `apply` against a
// running control plane, next to a bare `node -e ''` on the same machine in the same run.
// Each case runs once to warm Node's compile cache (what every start after a user's first
// one gets), then BENCH_CLI_RUNS rounds (default 15) run every case once each, so load on a
// shared machine falls on all alike; the median and the worst are printed.
// A cold row (fresh cache: type stripping on every file) shows what the first start costs.
// Peak RSS is GNU time's maximum resident set size (/usr/bin/time, Debian package `time`).
//
// BENCH_CLI_OLD=DIR adds the same rows for another checkout (e.g. the tree before issue 16,
// unpacked with `git archive REV | tar -x -C DIR` and its node_modules linked in).

import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { startControlPlane } from '../helpers/control-plane.ts';

const RUNS = Number(process.env.BENCH_CLI_RUNS ?? 15);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TIME = '/usr/bin/time';

type Sample = { readonly ms: number; readonly rssMiB: number | null; readonly cpuMs: number | null };
type Row = { readonly name: string; readonly median: Sample; readonly worst: number; readonly cpuMs: number | null };

function once(args: readonly string[], env: NodeJS.ProcessEnv): Sample {
  const timed = existsSync(TIME);
  const start = performance.now();
  const r = timed ? spawnSync(TIME, ['-f', 'maxrss=%M cpu=%U+%S', process.execPath, ...args], { env, encoding: 'utf8' }) : spawnSync(process.execPath, args, { env, encoding: 'utf8' });
  const ms = performance.now() - start;
  if (r.status !== 0) throw new Error(`node ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  const rss = timed ? /maxrss=(\d+)/.exec(r.stderr) : null;
  const cpu = timed ? /cpu=([\d.]+)\+([\d.]+)/.exec(r.stderr) : null;
  return { ms, rssMiB: rss === null ? null : Number(rss[1]) / 1024, cpuMs: cpu === null ? null : (Number(cpu[1]) + Number(cpu[2])) * 1000 };
}

type Case = { readonly name: string; readonly args: readonly string[]; readonly env: NodeJS.ProcessEnv };

/** Round-robin over the cases, so that a busy moment of the machine falls on all of them alike. */
function measure(cases: readonly Case[]): Row[] {
  for (const c of cases) once(c.args, c.env);
  const samples = cases.map((): Sample[] => []);
  for (let round = 0; round < RUNS; round++) cases.forEach((c, i) => samples[i].push(once(c.args, c.env)));
  return cases.map((c, i) => {
    const sorted = samples[i].sort((a, b) => a.ms - b.ms);
    const cpus = samples[i].map((x) => x.cpuMs).filter((x) => x !== null).sort((a, b) => a - b);
    return { name: c.name, median: sorted[Math.floor(sorted.length / 2)], worst: sorted[sorted.length - 1].ms, cpuMs: cpus.length === 0 ? null : cpus[Math.floor(cpus.length / 2)] };
  });
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-cli-bench-'));
  const cp = await startControlPlane({ args: ['--trust-domain', 'bench.example'] });
  try {
    const manifest = join(dir, 'svc.yaml');
    writeFileSync(manifest, 'apiVersion: v1\nkind: Service\nmetadata:\n  name: orders\nspec:\n  selector: { app: orders }\n  ports: [{ name: http, port: 8080 }]\n');
    const base = { ...process.env, SLUICE_SERVER: cp.url, SLUICE_TOKEN_FILE: cp.tokenFile, HOME: dir };
    const cases: Case[] = [{ name: "node -e ''", args: ['-e', ''], env: base }];
    const verbs: [string, string[]][] = [
      ['--help', ['--help']],
      ['version', ['version']],
      ['get svc', ['get', 'svc']],
      ['apply -f', ['apply', '-f', manifest]],
    ];
    const trees: [string, string][] = [['', ROOT]];
    if (process.env.BENCH_CLI_OLD !== undefined) trees.push(['old: ', process.env.BENCH_CLI_OLD]);
    for (const [label, root] of trees) {
      const launcher = join(root, 'control-plane/cli/sluicectl.js');
      const entry = existsSync(launcher) ? launcher : join(root, 'control-plane/cli/main.ts');
      const warm = { ...base, NODE_COMPILE_CACHE: join(dir, `cache-${cases.length}`) };
      for (const [name, args] of verbs) cases.push({ name: `${label}sluicectl ${name}`, args: [entry, ...args], env: warm });
      // Cold: no compile cache, so every TypeScript file is stripped again (a first start).
      cases.push({ name: `${label}sluicectl --help, cold`, args: [entry, '--help'], env: { ...base, NODE_DISABLE_COMPILE_CACHE: '1' } });
    }
    const rows = measure(cases);
    const bare = rows[0].median.ms;
    const bareCpu = rows[0].cpuMs;
    // CPU time (user + system, GNU time's 10 ms resolution) moves far less than wall time when other processes share the cores.
    console.log(`sluicectl start, ${RUNS} runs each after one warm-up (median wall, worst wall; median CPU; peak RSS of the median run)`);
    for (const r of rows) {
      const over = r === rows[0] ? '' : `  (+${Math.round(r.median.ms - bare)} ms wall${r.cpuMs === null || bareCpu === null ? '' : `, +${Math.round(r.cpuMs - bareCpu)} ms CPU`} over bare node)`;
      const cpu = r.cpuMs === null ? '' : `  CPU ${Math.round(r.cpuMs).toString().padStart(4)} ms`;
      console.log(`${r.name.padEnd(34)} ${Math.round(r.median.ms).toString().padStart(5)} ms  worst ${Math.round(r.worst).toString().padStart(5)} ms${cpu}  ${r.median.rssMiB === null ? '' : `${r.median.rssMiB.toFixed(0).padStart(4)} MiB`}${over}`);
    }
  } finally {
    await cp.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
