// README's "Policy kinds" (issue 15): one place lists the policy kinds with an example each,
// valid for the static file and the control plane alike. Each yaml block of that section
// is one policy; its `targetRefs` line says in its comment how the static file names the
// target (`# static file: [...]`) or that it names it the same way (`# the same in the
// static file`). Each example is (a) applied with sluicectl to a real sluice-cp holding
// examples/xds/ (the mesh the README says they apply to), created and then Accepted (its
// target found), and (b) loaded into a static proxy config beside the listener, route and
// backend it targets, with no violation.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { parse as parseYaml, stringify } from 'yaml';
import { parseStaticConfig } from '../../proxy/config/load-static.ts';
import { sluicectl } from '../control-plane/cli/harness.ts';
import { startControlPlane, type ControlPlaneProcess } from '../helpers/control-plane.ts';
import { ROOT, sectionBlocks } from '../helpers/readme.ts';
import { readFileSync } from 'node:fs';

const KINDS = ['RetryPolicy', 'CircuitBreakerPolicy', 'FaultInjectionPolicy', 'LoadBalancingPolicy', 'AuthorizationPolicy', 'RequestAuthentication'];

type Policy = { apiVersion: string; kind: string; metadata: { name: string }; spec: { targetRefs: unknown[] } & Record<string, unknown> };
type Example = { readonly line: number; readonly text: string; readonly policy: Policy; readonly staticTargets: unknown[] };

function examples(): Example[] {
  const blocks = sectionBlocks(readFileSync(join(ROOT, 'README.md'), 'utf8'), 'Policy kinds');
  return blocks.map((b) => {
    assert.equal(b.lang, 'yaml', `README line ${b.line}: a block of Policy kinds that is not yaml`);
    const policy = parseYaml(b.text) as Policy;
    const refsLine = b.text.split('\n').find((l) => /^\s*targetRefs:/.test(l));
    assert.ok(refsLine !== undefined, `README line ${b.line}: ${policy.kind} has no one-line targetRefs`);
    const comment = /#\s*(.*)$/.exec(refsLine)?.[1] ?? '';
    let staticTargets: unknown[];
    if (comment === 'the same in the static file') staticTargets = policy.spec.targetRefs;
    else {
      const m = /^static file:\s*(\[.*\])$/.exec(comment);
      assert.ok(m !== null, `README line ${b.line}: ${policy.kind}'s targetRefs line says neither 'static file: [...]' nor 'the same in the static file'`);
      staticTargets = parseYaml(m[1]) as unknown[];
    }
    return { line: b.line, text: b.text, policy, staticTargets };
  });
}

/** The static file the examples are loaded into: the listener, route and backend their static targets name. */
function staticConfig(policies: Policy[]): string {
  return stringify({
    listeners: [{ name: 'inbound', address: '127.0.0.1', port: 0, protocol: 'http' }],
    routes: [{ name: 'orders-split', parentRefs: [{ name: 'inbound' }], rules: [{ backendRefs: [{ name: 'orders' }] }] }],
    backends: [{ name: 'orders', endpoints: [{ address: '127.0.0.1', port: 18502 }] }],
    policies,
  });
}

const asStatic = (e: Example): Policy => ({ ...e.policy, spec: { ...e.policy.spec, targetRefs: e.staticTargets } });

test('Policy kinds has one example of each policy kind', () => {
  assert.deepEqual(examples().map((e) => e.policy.kind).sort(), [...KINDS].sort());
});

for (const e of examples()) {
  test(`README's ${e.policy.kind} loads into a static file, targets written the static file's way`, () => {
    const r = parseStaticConfig(staticConfig([asStatic(e)]));
    assert.ok(r.ok, `README line ${e.line}: ${JSON.stringify(r.ok ? null : r.error, null, 2)}`);
    // Attached, not ignored: the resolved config is not the one without the policy.
    const without = parseStaticConfig(staticConfig([]));
    assert.ok(without.ok);
    assert.notDeepEqual(r.value, without.value, `README line ${e.line}: the ${e.policy.kind} changed nothing in the resolved config`);
  });
}

test("README's policies load into one static file together", () => {
  const r = parseStaticConfig(staticConfig(examples().map(asStatic)));
  assert.ok(r.ok, JSON.stringify(r.ok ? null : r.error, null, 2));
});

let cp: ControlPlaneProcess;
let env: Record<string, string>;
before(async () => {
  cp = await startControlPlane({ args: ['--trust-domain', 'demo.sluice.dev'] });
  env = { SLUICE_SERVER: cp.url, SLUICE_TOKEN_FILE: cp.tokenFile };
  const r = await sluicectl(['apply', '-f', join(ROOT, 'examples/xds/')], { env });
  assert.equal(r.code, 0, r.stderr);
});
after(() => cp?.stop());

type Condition = { type: string; status: string; reason: string; message: string };

for (const e of examples()) {
  test(`README's ${e.policy.kind} applies as written to the control plane holding examples/xds/, and is Accepted`, async () => {
    const r = await sluicectl(['apply', '-f', '-'], { env, stdin: e.text });
    assert.equal(r.code, 0, `README line ${e.line}: ${r.stdout}${r.stderr}`);
    assert.match(r.stdout, new RegExp(`^${e.policy.kind.toLowerCase()}\\.mesh\\.sluice\\.dev/${e.policy.metadata.name} created$`, 'm'));
    // Status follows the store within moments; bounded, so a target that is never found fails.
    const deadline = Date.now() + 20_000;
    for (;;) {
      const got = await sluicectl(['get', e.policy.kind, e.policy.metadata.name, '-o', 'json'], { env });
      assert.equal(got.code, 0, got.stderr);
      const accepted = (JSON.parse(got.stdout) as { status?: { conditions?: Condition[] } }).status?.conditions?.find((c) => c.type === 'Accepted');
      if (accepted !== undefined) {
        assert.equal(accepted.status, 'True', `README line ${e.line}: ${accepted.reason}: ${accepted.message}`);
        break;
      }
      assert.ok(Date.now() < deadline, `README line ${e.line}: no Accepted condition within 20 s`);
      await new Promise((res) => setTimeout(res, 100));
    }
  });
}
