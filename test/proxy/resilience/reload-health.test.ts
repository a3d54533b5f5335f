// Health state outlives a reload (the endpoint's pool and state are kept), but not the
// policy that made it: an ejection whose outlier detection a reload turned off would
// otherwise never end.

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { request } from 'undici';
import { startProxy, type ProxyProcess } from '../../helpers/proxy-process.ts';
import { startUpstream, type Upstream } from '../../helpers/upstream.ts';
import { waitFor } from '../../helpers/wait.ts';

describe('health across a reload', () => {
  let proxy: ProxyProcess;
  let good: Upstream;
  let bad: Upstream;
  const config = (outlier: string) => `
listeners: [{ name: main, address: 127.0.0.1, port: 0, protocol: http }]
routes: [{ name: r, rules: [{ backendRefs: [{ name: api }] }] }]
backends: [{ name: api, loadBalancer: round-robin, endpoints: [{ address: 127.0.0.1, port: ${good.port} }, { address: 127.0.0.1, port: ${bad.port} }] }]
policies:
  - apiVersion: mesh.sluice.dev/v1alpha1
    kind: CircuitBreakerPolicy
    metadata: { name: cb }
    spec: { targetRefs: [{ kind: Backend, name: api }], outlierDetection: ${outlier} }
  - apiVersion: mesh.sluice.dev/v1alpha1
    kind: RetryPolicy
    metadata: { name: none }
    spec: { targetRefs: [{ kind: Backend, name: api }], attempts: 0 }
`;
  const badHealth = async () => {
    return (await proxy.clusters())[0].endpoints.find((e) => e.port === bad.port)!;
  };

  before(async () => {
    good = await startUpstream('good');
    bad = await startUpstream('bad', (_req, res) => res.writeHead(500).end());
    proxy = await startProxy(config('{ consecutive5xx: 2, baseEjectionTime: 1h }'));
  });

  after(async () => {
    await proxy?.stop();
    await Promise.all([good?.close(), bad?.close()]);
  });

  test('an ejection survives a reload that keeps outlier detection, and ends with one that turns it off', async () => {
    for (let i = 0; i < 6; i++) await (await request(`http://127.0.0.1:${proxy.ports.main}/`)).body.dump();
    assert.equal((await badHealth()).health, 'unhealthy');

    writeFileSync(proxy.configFile, config('{ consecutive5xx: 3, baseEjectionTime: 1h }'));
    proxy.child.kill('SIGHUP');
    // As below: a reload loads the file in a fresh worker, slow when CI's two cores are busy.
    await proxy.waitForLog(/config reloaded/, 30_000);
    assert.equal((await badHealth()).health, 'unhealthy', 'the ejection is kept');

    writeFileSync(proxy.configFile, config('{ disabled: true }'));
    proxy.child.kill('SIGHUP');
    const reloads = () => proxy.stderr().split('\n').filter((l) => l.includes('config reloaded')).length;
    // A generous bound: CI's two cores may be busy with other test files.
    await waitFor(() => reloads() >= 2, 30_000, 'the second reload');
    assert.equal(reloads(), 2);
    const e = await badHealth();
    assert.equal(e.health, 'healthy');
    assert.equal(e.healthReason, undefined);
  });
});
