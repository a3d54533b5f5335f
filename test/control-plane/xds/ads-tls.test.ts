// xDS on :15012 over TLS, end to end in the real sluice-cp: a proxy joins with a token
// minted by sluicectl, gets its SVID from the certificate service, and opens ADS with it
// as its client certificate; the node it claims must be the Workload the SVID names.

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { SvidClient } from '../../../proxy/xds/svid-client.ts';
import { parseTokenFile } from '../../../xds/index.ts';
import { startControlPlane, type ControlPlaneProcess } from '../../helpers/control-plane.ts';
import { sluicectl } from '../cli/harness.ts';
import { decoded, openAds, struct } from './ads-stream.ts';

let cp: ControlPlaneProcess;
let bundle: string;
const svids: Record<string, { cert: string; key: string }> = {};
const clients: SvidClient[] = [];

const proxyNode = (id: string) => ({ id, locality: {}, metadata: struct({ 'sluice.dev/proxy': 'sluice-proxy' }) });

before(async () => {
  cp = await startControlPlane({ args: ['--trust-domain', 'tls.sluice.dev'] });
  const env = { SLUICE_SERVER: cp.url, SLUICE_TOKEN_FILE: cp.tokenFile };
  const yaml = ['orders', 'billing']
    .map((name, i) => `apiVersion: mesh.sluice.dev/v1alpha1\nkind: Workload\nmetadata: { name: ${name}-1, labels: { app: ${name} } }\nspec: { address: 127.0.0.1, ports: { http: ${18401 + i} }, serviceAccount: ${name} }\n---\napiVersion: v1\nkind: Service\nmetadata: { name: ${name} }\nspec: { selector: { app: ${name} }, ports: [{ name: http, port: 80 }] }\n`)
    .join('---\n');
  assert.equal((await sluicectl(['apply', '-f', '-'], { stdin: yaml, env })).code, 0);
  for (const name of ['orders', 'billing']) {
    const minted = await sluicectl(['token', 'create', '--workload', `${name}-1`, '--ttl', '10m'], { env });
    assert.equal(minted.code, 0, minted.stderr);
    const file = parseTokenFile(minted.stdout);
    assert.ok(file.ok, file.ok ? '' : file.error);
    const dir = mkdtempSync(join(tmpdir(), `sluice-svid-${name}-`));
    const client = new SvidClient(
      { address: cp.xds, trustBundle: file.value.bundle, dir, joinToken: file.value.token, identity: file.value.identity, workload: `${name}-1` },
      { now: Date.now, log: () => {}, random: Math.random },
    );
    clients.push(client);
    const issued = await client.start();
    assert.equal(issued.svid.identity, `spiffe://tls.sluice.dev/ns/default/sa/${name}`);
    svids[name] = { cert: readFileSync(join(dir, 'cert.pem'), 'utf8'), key: readFileSync(join(dir, 'key.pem'), 'utf8') };
    bundle = readFileSync(join(dir, 'bundle.pem'), 'utf8');
  }
});

after(async () => {
  for (const c of clients) c.close();
  await cp?.stop();
});

const tls = (svid?: { cert: string; key: string }) =>
  svid === undefined ? grpc.credentials.createSsl(Buffer.from(bundle)) : grpc.credentials.createSsl(Buffer.from(bundle), Buffer.from(svid.key), Buffer.from(svid.cert));

test('a proxy with its own SVID gets its config over TLS', async () => {
  const s = openAds(cp.xds, tls(svids.orders));
  s.send({ node: proxyNode('orders-1.default'), type_url: 'type.googleapis.com/envoy.config.listener.v3.Listener', resource_names: [] });
  const lds = decoded(await s.next());
  assert.deepEqual([...lds.keys()], ['inbound|18401', 'outbound']);
  s.close();
});

test("a proxy claiming another Workload's node, or none, is refused with the reason", async () => {
  const other = openAds(cp.xds, tls(svids.billing));
  other.send({ node: proxyNode('orders-1.default'), type_url: 'type.googleapis.com/envoy.config.listener.v3.Listener' });
  const refused = (await other.ended) as grpc.StatusObject;
  assert.equal(refused.code, grpc.status.PERMISSION_DENIED);
  assert.match(refused.details, /needs the identity spiffe:\/\/tls\.sluice\.dev\/ns\/default\/sa\/orders, but its certificate is spiffe:\/\/tls\.sluice\.dev\/ns\/default\/sa\/billing/);
  const anonymous = openAds(cp.xds, tls());
  anonymous.send({ node: proxyNode('orders-1.default'), type_url: 'type.googleapis.com/envoy.config.listener.v3.Listener' });
  assert.match(((await anonymous.ended) as grpc.StatusObject).details, /sent no client certificate/);
});

test('a proxyless client on the TLS port needs no certificate', async () => {
  const s = openAds(cp.xds, tls());
  s.send({ node: { id: 'tool', locality: {} }, type_url: 'type.googleapis.com/envoy.config.listener.v3.Listener', resource_names: ['orders.default.svc.cluster.local:80'] });
  assert.deepEqual([...decoded(await s.next()).keys()], ['orders.default.svc.cluster.local:80']);
  s.close();
});
