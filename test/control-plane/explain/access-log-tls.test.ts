// The access log service in the real sluice-cp, on the TLS xDS port: a proxy's failed
// requests, sent as Envoy HTTPAccessLogEntries with its SVID as client certificate, come
// back from GET /debug/failures; a stream whose node is another Workload's, or that shows
// no certificate, is refused with the reason, and what it sent is not kept.

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { after, before, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { RequestContext } from '../../../proxy/http/context.ts';
import { accessLogEntry } from '../../../proxy/telemetry/failure-report.ts';
import { SvidClient } from '../../../proxy/xds/svid-client.ts';
import { accessLogPackageDefinition } from '../../../xds/protos.ts';
import { toStruct } from '../../../xds/struct.ts';
import { parseTokenFile } from '../../../xds/index.ts';
import { startControlPlane, type ControlPlaneProcess } from '../../helpers/control-plane.ts';
import { sluicectl } from '../cli/harness.ts';

let cp: ControlPlaneProcess;
let bundle: string;
const svids: Record<string, { cert: string; key: string }> = {};
const clients: SvidClient[] = [];

before(async () => {
  cp = await startControlPlane({ args: ['--trust-domain', 'als.sluice.dev'] });
  const env = { SLUICE_SERVER: cp.url, SLUICE_TOKEN_FILE: cp.tokenFile };
  const yaml = ['orders', 'billing'].map((name) => `apiVersion: mesh.sluice.dev/v1alpha1\nkind: Workload\nmetadata: { name: ${name}-1 }\nspec: { address: 127.0.0.1, serviceAccount: ${name} }\n`).join('---\n');
  assert.equal((await sluicectl(['apply', '-f', '-'], { stdin: yaml, env })).code, 0);
  for (const name of ['orders', 'billing']) {
    const minted = await sluicectl(['token', 'create', '--workload', `${name}-1`, '--ttl', '10m'], { env });
    assert.equal(minted.code, 0, minted.stderr);
    const file = parseTokenFile(minted.stdout);
    assert.ok(file.ok, file.ok ? '' : file.error);
    const dir = mkdtempSync(join(tmpdir(), `sluice-als-${name}-`));
    const client = new SvidClient({ address: cp.xds, trustBundle: file.value.bundle, dir, joinToken: file.value.token, identity: file.value.identity, workload: `${name}-1` }, { now: Date.now, log: () => {}, random: Math.random });
    clients.push(client);
    await client.start();
    svids[name] = { cert: readFileSync(join(dir, 'cert.pem'), 'utf8'), key: readFileSync(join(dir, 'key.pem'), 'utf8') };
    bundle = readFileSync(join(dir, 'bundle.pem'), 'utf8');
  }
});

after(async () => {
  for (const c of clients) c.close();
  await cp?.stop();
});

const credentials = (svid?: { cert: string; key: string }) =>
  svid === undefined ? grpc.credentials.createSsl(Buffer.from(bundle)) : grpc.credentials.createSsl(Buffer.from(bundle), Buffer.from(svid.key), Buffer.from(svid.cert));

/** Streams one failed request as `node`; resolves with the stream's status. */
function report(node: string, requestId: string, svid?: { cert: string; key: string }): Promise<grpc.StatusObject> {
  const pkg = grpc.loadPackageDefinition(accessLogPackageDefinition()) as any;
  const client = new pkg.envoy.service.accesslog.v3.AccessLogService(cp.xds, credentials(svid));
  const ctx = new RequestContext('outbound', 'HTTP/1.1', '127.0.0.1:5000', performance.now(), 'GET', 'billing', '/pay', '', {}, null, requestId);
  ctx.status = 503;
  ctx.flags = ['UH'];
  ctx.explain = { hosts: [{ endpoint: '127.0.0.1:9', healthy: false, reason: 'ejected: 5 consecutive 5xx responses' }] };
  return new Promise((resolve) => {
    const call = client.StreamAccessLogs((err: grpc.ServiceError | null) => {
      client.close();
      resolve(err === null ? { code: grpc.status.OK, details: '', metadata: new grpc.Metadata() } : err);
    });
    call.write({ identifier: { node: { id: node, metadata: toStruct({ 'sluice.dev/proxy': 'sluice-proxy' }) }, log_name: 'sluice.dev/failures' }, http_logs: { log_entry: [accessLogEntry(ctx, Date.now())] } });
    setTimeout(() => call.end(), 200);
  });
}

async function failures(query: string): Promise<Record<string, any>[]> {
  const res = await fetch(`${cp.url}/debug/failures?${query}`, { headers: { authorization: `Bearer ${readFileSync(cp.tokenFile, 'utf8').trim()}` } });
  assert.equal(res.status, 200);
  return ((await res.json()) as { items: Record<string, any>[] }).items;
}

test("a proxy's failed request, sent with its own SVID, is served back with its flags and notes", async () => {
  assert.equal((await report('orders-1.default', 'req-own', svids.orders)).code, grpc.status.OK);
  const [r] = await failures('requestId=req-own');
  assert.equal(r?.node, 'orders-1.default');
  assert.deepEqual(r.flags, ['UH']);
  assert.equal(r.status, 503);
  assert.equal(r.path, '/pay');
  assert.deepEqual(r.notes, { hosts: [{ endpoint: '127.0.0.1:9', healthy: false, reason: 'ejected: 5 consecutive 5xx responses' }] });
});

test("a stream naming another Workload's node, or with no certificate, is refused and nothing it sent is kept", async () => {
  const other = await report('orders-1.default', 'req-forged', svids.billing);
  assert.equal(other.code, grpc.status.PERMISSION_DENIED);
  assert.match(other.details, /needs the identity spiffe:\/\/als\.sluice\.dev\/ns\/default\/sa\/orders, but its certificate is spiffe:\/\/als\.sluice\.dev\/ns\/default\/sa\/billing/);
  const anonymous = await report('orders-1.default', 'req-anonymous');
  assert.equal(anonymous.code, grpc.status.PERMISSION_DENIED);
  assert.match(anonymous.details, /sent no client certificate/);
  assert.deepEqual(await failures('requestId=req-forged'), []);
  assert.deepEqual(await failures('requestId=req-anonymous'), []);
});
