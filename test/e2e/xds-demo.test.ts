// The xDS part of `npm run demo` (the README's first command) and issue 7's acceptance:
// sluice-cp, three services each with a proxy that joined with a token, all SYNCED; the
// calls from frontend follow a route split and then a change; every process is stopped.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { withFixedPorts } from '../helpers/fixed-ports.ts';

const DEMO = fileURLToPath(new URL('../../examples/xds/demo.ts', import.meta.url));

/** The count printed for `who` in the tally that follows `after` in the transcript. */
function count(stdout: string, after: string, who: string): number {
  const from = stdout.indexOf(after);
  assert.ok(from >= 0, `no '${after}' in the transcript`);
  const tally = /calls answered by:\n((?: {4}.*\n)+)/.exec(stdout.slice(from));
  assert.ok(tally !== null, `no tally after '${after}'`);
  const m = new RegExp(`^ {4}${who}\\s+(\\d+)`, 'm').exec(tally[1]);
  return m === null ? 0 : Number(m[1]);
}

test('the xDS demo: proxies join with tokens, sync, and the traffic follows a route split and its change; nothing is left running', { timeout: 400_000 }, async () => {
  // The example's fixed ports: one test at a time binds them (the README's quick start runs this demo too).
  const r = await withFixedPorts(() => spawnSync(process.execPath, [DEMO], { encoding: 'utf8', timeout: 90_000 }));
  const out = r.stdout;
  assert.equal(r.status, 0, `${out}\n${r.stderr}`);

  for (const w of ['frontend-1', 'orders-1', 'orders-canary-1']) {
    assert.match(out, new RegExp(`join token \\w+ for Workload default/${w} written to \\$DEMO/${w}\\.token \\(mode 0600\\)`), w);
    // Its Workload's zone (examples/xds/workloads.yaml) in the ZONE column, then the five types.
    assert.match(out, new RegExp(`\\n  ${w}\\.default\\s+proxy\\s+dc-1(\\s+SYNCED \\(\\S+\\)){5}\\s`), `${w} SYNCED on CDS LDS EDS RDS SDS`);
  }
  assert.match(out, /-> 200 orders v1 \(orders-1\), called by spiffe:\/\/demo\.sluice\.dev\/ns\/default\/sa\/frontend/);

  // Before any route: every call on orders.
  assert.equal(count(out, 'no route yet', 'orders v1'), 20);
  assert.equal(count(out, 'no route yet', 'orders-canary v2'), 0);
  // 80/20: both backends answer, the canary near 20 of 100 (bounds far outside chance).
  assert.match(out, /httproute\.gateway\.networking\.k8s\.io\/orders-split created/);
  const stable = count(out, 'route-split.yaml', 'orders v1');
  const canary = count(out, 'route-split.yaml', 'orders-canary v2');
  assert.equal(stable + canary, 100);
  assert.ok(canary >= 5 && canary <= 45, `${canary} of 100 on the canary`);
  // 0/100: every call on the canary.
  assert.match(out, /httproute\.gateway\.networking\.k8s\.io\/orders-split configured/);
  assert.equal(count(out, '$ sluicectl apply -f examples/xds/changes/route-change.yaml', 'orders-canary v2'), 100);
  assert.equal(count(out, '$ sluicectl apply -f examples/xds/changes/route-change.yaml', 'orders v1'), 0);
  assert.match(out, /outbound\/orders\.default\.svc\.cluster\.local:80\s.*outbound\|80\|\|orders-canary\.default\.svc\.cluster\.local\n/);

  // Every process the demo started exited cleanly, and none is alive now.
  const stopped = [...out.matchAll(/^ {2}(.+) \(pid (\d+)\) exited (\S+)/gm)];
  assert.deepEqual(stopped.map((m) => m[1]).sort(), ["frontend-1's proxy", "orders-1's proxy", "orders-canary-1's proxy", 'sluice-cp']);
  for (const [, what, pid, how] of stopped) {
    assert.equal(how, '0', `${what} exited ${how}`);
    assert.throws(() => process.kill(Number(pid), 0), { code: 'ESRCH' }, `${what} (pid ${pid}) is still running`);
  }
  assert.match(out, /demo done in [\d.]+ s/);
});
