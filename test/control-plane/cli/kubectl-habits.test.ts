// sluicectl with more of kubectl's habits (issue 16): --help on groups and flags on every
// verb's help, api-resources, completion scripts, get all and comma-separated kinds,
// -o wide|name|jsonpath=, -l label selectors and -w, against a real sluice-cp. Transcripts
// are compared with golden/habits-*.txt (UPDATE_GOLDEN=1 rewrites them).

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runCli } from '../../../control-plane/cli/run.ts';
import { startControlPlane, type ControlPlaneProcess } from '../../helpers/control-plane.ts';
import { assertGolden, captureContext, sluicectl, transcript, type CliRun } from './harness.ts';

const SHOP = `apiVersion: v1
kind: Service
metadata:
  name: orders
  labels: { app: orders, tier: backend }
spec:
  selector: { app: orders }
  ports: [{ name: http, port: 8080, appProtocol: http }]
---
apiVersion: v1
kind: Service
metadata:
  name: web
  labels: { app: web }
spec:
  selector: { app: web }
  ports: [{ name: http, port: 80, appProtocol: http }]
---
apiVersion: mesh.sluice.dev/v1alpha1
kind: Workload
metadata:
  name: orders-vm-1
  labels: { app: orders, track: stable }
spec: { address: 10.0.3.7, ports: { http: 8080 }, zone: dc-1 }
---
apiVersion: mesh.sluice.dev/v1alpha1
kind: Workload
metadata:
  name: orders-vm-2
  labels: { app: orders, track: canary }
spec: { address: 10.0.3.8, ports: { http: 8080 }, zone: dc-1 }
---
apiVersion: mesh.sluice.dev/v1alpha1
kind: Workload
metadata:
  name: web-vm-1
  labels: { app: web }
spec: { address: 10.0.4.1, ports: { http: 80 }, zone: dc-2 }
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: orders-missing
spec:
  parentRefs: [{ kind: Service, group: '', name: orders, port: 8080 }]
  rules:
    - backendRefs: [{ name: orders-gone, port: 8080 }]
`;

const NOWHERE = { SLUICE_SERVER: 'http://127.0.0.1:1' };

test('groups and verbs answer --help; api-resources lists every kind; bad -o, -l and kinds are refused before any request', async () => {
  const runs: CliRun[] = [];
  for (const argv of [
    ['ca', '--help'],
    ['bootstrap', '-h'],
    ['bootstrap'],
    ['get', '--help'],
    ['api-resources'],
    ['api-resources', '--namespaced', 'false'],
    ['api-resources', '--namespaced', 'maybe'],
    ['get', 'svc', '-o', 'jsonpath={.items[?(@.x=="y")]}'],
    ['get', 'svc', '-o', 'jsonpath={..name}'],
    ['get', 'svc', '-o', 'jsonpath={range .items[*]}{.metadata.name}'],
    ['get', 'svc', '-o', 'jsonpath={.items[1:2]}'],
    ['get', 'svc', '-o', 'wider'],
    ['get', 'svc', '-l', 'app in (a,b'],
    ['get', 'svc', '-l', 'app=,=x'],
    ['get', 'svc,', 'web'],
    ['get', 'svc,nope'],
    ['get', 'svc,wl', 'web'],
    ['get', 'svc,wl', '-w'],
    ['completion', 'fish'],
  ]) {
    runs.push(await sluicectl(argv, { env: NOWHERE }));
  }
  assertGolden('habits-offline.txt', transcript(runs));
  const token = await sluicectl(['token', '--help']);
  assert.equal(token.code, 0);
  assert.deepEqual([...token.stdout.matchAll(/^ {2}sluicectl (token \S+)/gm)].map((m) => m[1]), ['token create', 'token list', 'token revoke']);
});

test('completion bash is a script bash accepts, and it completes verbs, group verbs, kinds and flags', async (t) => {
  const script = (await sluicectl(['completion', 'bash'])).stdout;
  const dir = mkdtempSync(join(tmpdir(), 'sluicectl-completion-'));
  const file = join(dir, 'sluicectl.bash');
  writeFileSync(file, script);
  execFileSync('bash', ['-n', file]);
  const complete = (...words: string[]) =>
    execFileSync('bash', ['-c', `source ${file}; COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _sluicectl; echo "\${COMPREPLY[*]}"`], { encoding: 'utf8' }).trim();
  assert.equal(complete('sluicectl', 'ge'), 'get');
  assert.equal(complete('sluicectl', 'ca', 'i'), 'issue inspect');
  assert.equal(complete('sluicectl', 'get', 'http'), 'httproutes httproute');
  assert.equal(complete('sluicectl', '-n', 'shop', 'describe', 'se'), 'services service');
  assert.equal(complete('sluicectl', 'get', 'svc', '--wa'), '--watch');
  assert.equal(complete('sluicectl', 'ca', 'issue', '--sp'), '--spiffe-id');
  assert.equal(complete('sluicectl', 'completion', ''), 'bash zsh');
  const zsh = (await sluicectl(['completion', 'zsh'])).stdout;
  assert.match(zsh, /^#compdef sluicectl\n/);
  assert.match(zsh, /compdef _sluicectl sluicectl/);
  let hasZsh = true;
  try {
    execFileSync('zsh', ['-c', 'true']);
  } catch {
    hasZsh = false;
  }
  if (!hasZsh) return t.skip('zsh is not installed: the zsh script was not syntax-checked');
  writeFileSync(join(dir, '_sluicectl'), zsh);
  execFileSync('zsh', ['-n', join(dir, '_sluicectl')]);
});

describe('get against a control plane', () => {
  let cp: ControlPlaneProcess;
  const dir = mkdtempSync(join(tmpdir(), 'sluicectl-habits-'));
  const now = () => Date.now() + 3.5 * 3_600_000;
  let env: Record<string, string>;
  const run = (...argv: string[]) => sluicectl(argv, { env, clock: now });

  before(async () => {
    cp = await startControlPlane({ args: ['--trust-domain', 'shop.example'] });
    env = { SLUICE_SERVER: cp.url, SLUICE_TOKEN_FILE: cp.tokenFile };
    writeFileSync(join(dir, 'shop.yaml'), SHOP);
    const applied = await run('apply', '-f', join(dir, 'shop.yaml'), '-n', 'shop');
    assert.equal(applied.code, 0, applied.stderr);
    // The control plane writes status once its view has taken the apply: wait for it (bounded), so the golden tables have their STATUS.
    for (const until = Date.now() + 15_000; ; await new Promise((r) => setTimeout(r, 100))) {
      const r = await run('get', 'httproute', 'orders-missing', '-n', 'shop', '-o', 'jsonpath={.status.conditions[*].reason}');
      if (r.stdout.includes('BackendNotFound')) break;
      if (Date.now() > until) assert.fail(`the route's status never came: ${r.stdout}${r.stderr}`);
    }
  });
  after(() => cp?.stop());

  test('get all, comma-separated kinds, short names, -o wide|name|jsonpath= and -l selectors', async () => {
    const runs: CliRun[] = [];
    for (const argv of [
      ['get', 'all', '-n', 'shop'],
      ['get', 'all', '-n', 'empty'],
      ['get', 'svc,httproute', '-n', 'shop'],
      ['get', 'wl,svc,wl', '-A'],
      ['get', 'wl', '-n', 'shop', '-o', 'wide'],
      ['get', 'httproutes', '-n', 'shop', '-o', 'wide'],
      ['get', 'svc,wl', '-n', 'shop', '-o', 'name'],
      ['get', 'svc', '-n', 'shop', '-o', 'jsonpath={.items[*].metadata.name}'],
      ['get', 'wl', '-n', 'shop', '-o', 'jsonpath={range .items[*]}{.metadata.name}{"\\t"}{.spec.address}{"\\n"}{end}'],
      ['get', 'svc', 'orders', '-n', 'shop', '-o', "jsonpath={.metadata.labels['tier']} {.spec.ports[0].port} {.spec.ports[-1].name}{\"\\n\"}"],
      ['get', 'wl', '-n', 'shop', '-l', 'app=orders'],
      ['get', 'wl', '-n', 'shop', '-l', 'app==orders,track!=canary'],
      ['get', 'wl', '-n', 'shop', '-l', 'track'],
      ['get', 'wl', '-n', 'shop', '-l', '!track'],
      ['get', 'wl', '-n', 'shop', '-l', 'track in (canary, stable),app notin (web)'],
      ['get', 'svc,wl', '-n', 'shop', '-l', 'app=web'],
      ['get', 'wl', '-n', 'shop', '-l', 'app=nothing'],
    ]) {
      runs.push(await run(...argv));
    }
    assertGolden('habits-get.txt', transcript(runs));
  });

  test("apply --dry-run as kubectl takes it: =server and =client check with the server and write nothing, =none applies, anything else is refused", async () => {
    const file = join(dir, 'extra.yaml');
    writeFileSync(file, 'apiVersion: v1\nkind: Service\nmetadata: { name: extra, namespace: shop }\nspec: { selector: { app: extra }, ports: [{ name: http, port: 80 }] }\n');
    for (const form of ['--dry-run=server', '--dry-run=client', '--dry-run']) {
      const r = await run('apply', '-f', file, form);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, 'service/extra created (dry run)\n', form);
    }
    assert.equal((await run('get', 'svc', 'extra', '-n', 'shop')).code, 1, 'a dry run wrote nothing');
    const bad = await run('apply', '-f', file, '--dry-run=maybe');
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--dry-run takes server, client or none \(as kubectl's\), or no value; got 'maybe'/);
    const applied = await run('apply', '-f', file, '--dry-run=none');
    assert.equal(applied.code, 0, applied.stderr);
    assert.equal(applied.stdout, 'service/extra created\n');
    assert.equal((await run('delete', 'svc', 'extra', '-n', 'shop')).code, 0);
  });

  test('-w prints the table, then a row per change, and stops when interrupted', async () => {
    const stop = new AbortController();
    const ctx = captureContext({ env, clock: now, interrupt: stop.signal });
    const watching = runCli(['get', 'wl', '-n', 'shop', '-l', 'app=orders', '-w'], ctx);
    const printed = () => ctx.out.join('');
    const until = async (what: string, pattern: RegExp) => {
      for (let i = 0; i < 400 && !pattern.test(printed()); i++) await new Promise((r) => setTimeout(r, 25));
      assert.match(printed(), pattern, `waited for ${what}`);
    };
    await until('the first table', /orders-vm-2/);
    writeFileSync(
      join(dir, 'vm3.yaml'),
      'apiVersion: mesh.sluice.dev/v1alpha1\nkind: Workload\nmetadata: { name: orders-vm-3, labels: { app: orders } }\nspec: { address: 10.0.3.9, ports: { http: 8080 } }\n---\napiVersion: mesh.sluice.dev/v1alpha1\nkind: Workload\nmetadata: { name: web-vm-2, labels: { app: web } }\nspec: { address: 10.0.4.2, ports: { http: 80 } }\n',
    );
    assert.equal((await run('apply', '-f', join(dir, 'vm3.yaml'), '-n', 'shop')).code, 0);
    await until('the new Workload', /orders-vm-3/);
    assert.equal((await run('delete', 'wl', 'orders-vm-3', '-n', 'shop')).code, 0);
    await until('its deletion', /orders-vm-3[^\n]*\n(.*\n)*orders-vm-3/);
    stop.abort();
    const code = await watching;
    assert.equal(code, 0);
    assert.equal(ctx.err.join(''), '');
    // The first table is as it was when the watch began; what follows depends on when the
    // control plane writes each status, so only its rows' names are checked.
    const lines = printed().split('\n');
    assertGolden('habits-watch.txt', transcript([{ argv: ['get', 'wl', '-n', 'shop', '-l', 'app=orders', '-w'], code, stdout: `${lines.slice(0, 3).join('\n')}\n`, stderr: '' }]));
    const later = lines.slice(3).filter((l) => l !== '').map((l) => l.split(' ')[0]);
    assert.ok(later.length >= 2 && later.every((n) => n === 'orders-vm-3'), `rows after the first table: ${later.join(', ')}`);
    assert.doesNotMatch(printed(), /web-vm-2/, 'the selector applies to the watched rows too');
  });
});
