// sluicectl check's lines for what a live mesh seldom shows on cue, from a control plane's
// answers as they would come: a Mesh and a proxy SVID of another trust domain (a store
// from before the API refused them), a NACK with its reason, a type not yet ACKed, an SVID
// whose renewal is overdue and one that expired. The live cases are in check.test.ts.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ApiClient } from '../../../control-plane/cli/client.ts';
import { runCli } from '../../../control-plane/cli/run.ts';
import { captureContext } from './harness.ts';

const NOW = Date.parse('2026-12-06T10:00:00Z');
const H = 3_600_000;
const iso = (ms: number) => new Date(ms).toISOString();
const synced = { state: 'SYNCED', version: 'v1', sent: 'v1', acked: 'v1', resources: 'all' };
const ca = {
  trustDomain: 'mesh.example',
  certificates: [
    { role: 'intermediate', subject: 'O=Sluice, CN=mesh.example intermediate CA', identity: 'spiffe://mesh.example', notBefore: iso(NOW - 24 * H), notAfter: iso(NOW + 1000 * 24 * H), fingerprintSha256: 'AA' },
    { role: 'root', subject: 'O=Sluice, CN=mesh.example root CA', identity: 'spiffe://mesh.example', notBefore: iso(NOW - 24 * H), notAfter: iso(NOW + 3000 * 24 * H), fingerprintSha256: 'BB' },
  ],
};
const svid = (node: string, identity: string, bornHoursAgo: number) => ({ node, kind: 'proxy', peer: '127.0.0.1:40000', identity, notBefore: iso(NOW - bornHoursAgo * H), notAfter: iso(NOW + (24 - bornHoursAgo) * H), source: 'issued' });

function fakeApi(): ApiClient {
  const lists: Record<string, unknown[]> = {
    Mesh: [{ apiVersion: 'mesh.sluice.dev/v1alpha1', kind: 'Mesh', metadata: { name: 'default' }, spec: { trustDomain: 'old.example' } }],
  };
  return {
    server: 'http://127.0.0.1:15014',
    version: async () => ({ version: '0.1.0', revision: 7 }),
    certificates: async () => ({
      ca,
      clients: [svid('a-1.default', 'spiffe://mesh.example/ns/default/sa/a', 2), svid('b-1.default', 'spiffe://other.example/ns/default/sa/b', 20), svid('c-1.default', 'spiffe://mesh.example/ns/default/sa/c', 25)],
    }),
    proxyStatus: async () => [
      { id: 'a-1.default', kind: 'proxy', status: 'CONNECTED', peer: '127.0.0.1:40000', connectedAt: iso(NOW - H), userAgent: 'sluice-proxy', types: { Cluster: synced, Listener: { ...synced, state: 'NACKED', nack: { version: 'v2', message: 'listener inbound|8080: port in use\nmore detail', at: iso(NOW - 60_000) } } } },
      { id: 'b-1.default', kind: 'proxy', status: 'CONNECTED', peer: '127.0.0.1:40001', connectedAt: iso(NOW - H), userAgent: 'sluice-proxy', types: { Cluster: { ...synced, state: 'STALE', acked: 'v0' } } },
    ],
    list: async (kind: { kind: string }) => lists[kind.kind] ?? [],
    close: async () => {},
  } as unknown as ApiClient;
}

test('trust-domain mismatches, a NACK, a type not ACKed, an overdue renewal and an expired SVID each get their line', async () => {
  const ctx = captureContext({ clock: () => NOW });
  const code = await runCli(['check'], { ...ctx, connect: () => fakeApi() });
  assert.equal(code, 1, ctx.err.join(''));
  assert.equal(
    ctx.out.join(''),
    [
      '[ok]   control-plane: http://127.0.0.1:15014 answers: sluice-cp 0.1.0 (store revision 7)',
      '[ok]   ca: trust domain mesh.example: the intermediate valid until 2029-09-01T10:00:00.000Z (in 2y), the root until 2035-02-22T10:00:00.000Z (in 8y)',
      '[FAIL] proxies: a-1.default NACKED LDS version v2 at 2026-12-06T09:59:00.000Z: listener inbound|8080: port in use',
      '[FAIL] proxies: b-1.default has not acknowledged the current CDS (STALE): sluicectl proxy-status b-1.default',
      "[FAIL] certificates: b-1.default's SVID spiffe://other.example/ns/default/sa/b expires at 2026-12-06T14:00:00.000Z, in 4h: its proxy renews it at half its 1d life, and has not",
      "[FAIL] certificates: c-1.default's SVID spiffe://mesh.example/ns/default/sa/c expired at 2026-12-06T09:00:00.000Z",
      "[FAIL] trust-domain: Mesh default names trust domain old.example, but the CA's is mesh.example: workload identities would not match their certificates; set spec.trustDomain: mesh.example",
      "[FAIL] trust-domain: b-1.default's certificate spiffe://other.example/ns/default/sa/b is of trust domain other.example, not the CA's mesh.example",
      '[ok]   conditions: no condition is False (1 resource checked)',
      '',
      '6 checks: 3 failed (6 problems), 3 passed',
      '',
    ].join('\n'),
  );
});

test('-o json gives each check with its status and its problems, with fields a script can use', async () => {
  const ctx = captureContext({ clock: () => NOW });
  const code = await runCli(['check', '-o', 'json'], { ...ctx, connect: () => fakeApi() });
  assert.equal(code, 1);
  const report = JSON.parse(ctx.out.join('')) as { ok: boolean; warnWithin: string; checks: { name: string; status: string; problems: Record<string, unknown>[] }[] };
  assert.equal(report.ok, false);
  assert.equal(report.warnWithin, '7d');
  assert.deepEqual(report.checks.map((c) => [c.name, c.status]), [['control-plane', 'ok'], ['ca', 'ok'], ['proxies', 'fail'], ['certificates', 'fail'], ['trust-domain', 'fail'], ['conditions', 'ok']]);
  const proxies = report.checks[2].problems;
  assert.deepEqual(proxies.map((p) => [p.node, p.state, p.type]), [['a-1.default', 'NACKED', 'LDS'], ['b-1.default', 'STALE', 'CDS']]);
  assert.equal(proxies[0].reason, 'listener inbound|8080: port in use\nmore detail', 'the whole NACK message, where the line has its first line');
});
