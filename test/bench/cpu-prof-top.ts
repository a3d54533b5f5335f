// `node test/bench/cpu-prof-top.ts FILE.cpuprofile [N] [LAST_SECONDS]`: the N (default 25)
// functions with the most self time in a V8 CPU profile (node --cpu-prof), then the N with the
// most total time (self plus callees, each function counted once per stack), as the
// BENCHMARKS.md sections name them; LAST_SECONDS keeps only the samples of the profile's last
// seconds (the pushes of an xDS bench run come after seeding and the initial sync). Run a bench with NODE_OPTIONS="--cpu-prof --cpu-prof-dir=DIR" to get one file per
// process (sluice-cp, sluicectl, the load clients).

import { readFileSync } from 'node:fs';

type Frame = { functionName: string; url: string; lineNumber: number };
type Node = { id: number; callFrame: Frame; children?: number[] };
type Profile = { nodes: Node[]; samples: number[]; timeDeltas: number[]; startTime: number; endTime: number };

const [file, countArg, lastArg] = process.argv.slice(2);
if (file === undefined) {
  console.error('usage: node test/bench/cpu-prof-top.ts FILE.cpuprofile [N] [LAST_SECONDS]');
  process.exit(2);
}
const n = Number(countArg ?? 25);
const last = lastArg === undefined ? Infinity : Number(lastArg);
if (!Number.isInteger(n) || n < 1 || !(last > 0)) {
  console.error(`N must be an integer >= 1 and LAST_SECONDS a number > 0; got ${countArg} ${lastArg ?? ''}`);
  process.exit(2);
}
let profile: Profile;
try {
  profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
} catch (err) {
  console.error(`${file}: not a readable CPU profile: ${(err as Error).message}`);
  process.exit(2);
}
if (!Array.isArray(profile.nodes) || !Array.isArray(profile.samples) || !Array.isArray(profile.timeDeltas)) {
  console.error(`${file}: not a V8 CPU profile (no nodes, samples or timeDeltas)`);
  process.exit(2);
}

const byId = new Map(profile.nodes.map((x) => [x.id, x]));
const parent = new Map<number, number>();
for (const x of profile.nodes) for (const c of x.children ?? []) parent.set(c, x.id);
const name = (f: Frame) => `${f.functionName || '(anonymous)'} ${f.url === '' ? '' : `${f.url.replace(/^file:\/\/.*?\/(node_modules|proxy|control-plane|xds|kinds|certs)\//, '$1/')}:${f.lineNumber + 1}`}`.trim();

const self = new Map<string, number>();
const total = new Map<string, number>();
// A sample's time is the delta that follows it (V8's timeDeltas[i + 1]); the last gets none.
const from = profile.endTime - last * 1e6;
let at = profile.startTime;
let windowStart = profile.endTime;
for (let i = 0; i < profile.samples.length; i++) {
  at += profile.timeDeltas[i] ?? 0;
  if (at < from) continue;
  windowStart = Math.min(windowStart, at);
  const us = profile.timeDeltas[i + 1] ?? 0;
  const leaf = byId.get(profile.samples[i]);
  if (leaf === undefined) continue;
  self.set(name(leaf.callFrame), (self.get(name(leaf.callFrame)) ?? 0) + us);
  const seen = new Set<string>();
  for (let id: number | undefined = leaf.id; id !== undefined; id = parent.get(id)) {
    const k = name(byId.get(id)!.callFrame);
    if (seen.has(k)) continue;
    seen.add(k);
    total.set(k, (total.get(k) ?? 0) + us);
  }
}
const all = profile.endTime - Math.max(profile.startTime, Math.min(windowStart, from));
const busy = all - (self.get('(idle)') ?? 0);
const top = (m: Map<string, number>) =>
  [...m]
    .filter(([k]) => k !== '(idle)' && k !== '(root)')
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([k, us]) => `${(us / 1000).toFixed(0).padStart(7)} ms ${((us / busy) * 100).toFixed(1).padStart(5)} %  ${k}`);
console.log(`${file}: ${(all / 1e6).toFixed(1)} s profiled, ${(busy / 1e6).toFixed(1)} s not idle (percentages are of that)`);
console.log('self time:', ...top(self).map((l) => `\n  ${l}`));
console.log('total time:', ...top(total).map((l) => `\n  ${l}`));
