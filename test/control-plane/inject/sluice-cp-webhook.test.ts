// The webhook as sluice-cp runs it: --webhook-addr turns it on, the certificate comes from
// the control plane's own CA (DATADIR/ca/bundle.pem is what the caBundle must carry), and
// --inject-image / --inject-sidecar-mode / --webhook-service reach the injected pod.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import { join } from 'node:path';
import type { V1Pod } from '@kubernetes/client-node';
import { CP_MAIN, startControlPlane } from '../../helpers/control-plane.ts';
import { applyJsonPatch, type PatchOp } from '../../helpers/json-patch.ts';

const review = readFileSync(new URL('testdata/review-job-pod.json', import.meta.url), 'utf8');

test('sluice-cp --webhook-addr serves /inject over TLS from its CA, with the injection flags applied', async () => {
  const cp = await startControlPlane({ args: ['--webhook-addr', '127.0.0.1:0', '--webhook-service', 'mesh-cp.mesh', '--inject-image', 'registry.example/sluice/proxy:9.9.9', '--inject-sidecar-mode', 'container'] });
  try {
    const m = /"msg":"webhook listening"[^\n]*"url":"https:\/\/127\.0\.0\.1:(\d+)\/inject"/.exec(cp.stderr());
    assert.ok(m, cp.stderr());
    const bundle = readFileSync(join(cp.dataDir, 'ca', 'bundle.pem'), 'utf8');
    const body = await new Promise<string>((resolve, reject) => {
      const req = https.request({ host: '127.0.0.1', port: Number(m[1]), method: 'POST', path: '/inject', ca: bundle, servername: 'mesh-cp.mesh.svc', headers: { 'content-type': 'application/json' } }, (res) => {
        let data = '';
        res.setEncoding('utf8').on('data', (d: string) => (data += d));
        res.on('end', () => (res.statusCode === 200 ? resolve(data) : reject(new Error(`${res.statusCode}: ${data}`))));
      });
      req.on('error', reject);
      req.end(review);
    });
    const response = JSON.parse(body).response;
    const pod = applyJsonPatch(JSON.parse(review).request.object as V1Pod, JSON.parse(Buffer.from(response.patch, 'base64').toString()) as PatchOp[]);
    const proxy = pod.spec!.containers[0];
    assert.equal(proxy.name, 'sluice-proxy', 'container mode: the proxy is the first container');
    assert.equal(proxy.image, 'registry.example/sluice/proxy:9.9.9');
    assert.deepEqual(proxy.args!.slice(0, 2), ['--control-plane', 'mesh-cp.mesh.svc:15012']);
  } finally {
    await cp.stop();
  }
});

test('without --webhook-addr (and not on Kubernetes) no webhook runs; bad injection flags stop sluice-cp with the reason', async () => {
  const cp = await startControlPlane();
  try {
    assert.doesNotMatch(cp.stderr(), /webhook listening/);
  } finally {
    await cp.stop();
  }
  const bad = spawnSync(process.execPath, [CP_MAIN, '--inject-sidecar-mode', 'sidecar'], { encoding: 'utf8', timeout: 20_000 });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--inject-sidecar-mode must be native \(Kubernetes >= 1\.29\) or container/);
  const badService = spawnSync(process.execPath, [CP_MAIN, '--webhook-service', 'sluice-cp'], { encoding: 'utf8', timeout: 20_000 });
  assert.equal(badService.status, 2);
  assert.match(badService.stderr, /--webhook-service must be NAME\.NAMESPACE/);
});
