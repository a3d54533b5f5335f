// `sluicectl token ...` and the join-token API behind it, in-process: the real API server
// (createApiServer with its tokens option, as sluice-cp wires it) on 127.0.0.1:0 over a
// real file store, and the CLI run with captured output. The token file it prints is what
// the proxy parses, and the token in it really joins the certificate service.

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createApiServer } from '../../../control-plane/apiserver/index.ts';
import { parseTokenFile } from '../../../xds/index.ts';
import { sluicectl } from '../cli/harness.ts';
import { csrFor, openStream, ORDERS_ID, sharedPki, startService, type Service } from './fixture.ts';

const ADMIN_TOKEN = 'sluice_test-admin-token-0123456789';
const TOKENS = '/apis/ca.sluice.dev/v1/namespaces/shop/jointokens';

describe('sluicectl token and the join-token API', { timeout: 20_000 }, () => {
  let svc: Service;
  let api: Server;
  let url: string;
  let env: Record<string, string>;
  const dir = mkdtempSync(join(tmpdir(), 'sluice-token-cli-'));
  const call = async (method: string, path: string, body?: unknown, token = ADMIN_TOKEN) => {
    const res = await fetch(url + path, { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
    return { status: res.status, json: (await res.json()) as any };
  };

  before(async () => {
    svc = await startService();
    api = createApiServer({ store: svc.store, token: ADMIN_TOKEN, log: () => {}, version: 'test', tokens: { tokens: svc.tokens, trustBundle: svc.ca.bundle }, facts: { trustDomain: svc.ca.trustDomain } });
    await new Promise<void>((resolve) => api.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(api.address() as { port: number }).port}`;
    writeFileSync(join(dir, 'admin-token'), ADMIN_TOKEN);
    env = { SLUICE_SERVER: url, SLUICE_TOKEN_FILE: join(dir, 'admin-token') };
  });
  after(async () => {
    api.closeAllConnections();
    await new Promise((resolve) => api.close(resolve));
    await svc.close();
  });

  test('token create prints a token file the proxy parses, whose token joins as the bound identity', async () => {
    const r = await sluicectl(['token', 'create', '--workload', 'orders-vm-1', '-n', 'shop', '--ttl', '30m'], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^# Sluice join token for Workload shop\/orders-vm-1\n# identity spiffe:\/\/mesh\.example\/ns\/shop\/sa\/orders\n# expires /);
    const file = parseTokenFile(r.stdout);
    assert.ok(file.ok, file.ok ? '' : file.error);
    assert.equal(file.value.identity, ORDERS_ID);
    assert.equal(file.value.bundle, svc.ca.bundle);
    const stream = openStream(svc.address, file.value.bundle);
    try {
      const res = await stream.send({ csr: csrFor(sharedPki().keys[0], file.value.identity), join_token: file.value.token });
      assert.equal(res.spiffe_id, ORDERS_ID);
    } finally {
      stream.close();
    }
  });

  test('a token file that is wrong is refused with the line that is wrong', async () => {
    const r = await sluicectl(['token', 'create', '--workload', 'orders-vm-1', '-n', 'shop'], { env });
    const lines = r.stdout.split('\n');
    const broken = (i: number, line: string) => parseTokenFile([...lines.slice(0, i), line, ...lines.slice(i + 1)].join('\n'), 'vm.token');
    const error = (res: ReturnType<typeof parseTokenFile>) => (res.ok ? 'accepted' : res.error);
    assert.match(error(broken(3, 'token: sluice-jt.abc')), /^vm\.token: line 4: the token is not of the form/);
    assert.match(error(broken(4, 'identity: spiffe://Mesh/x')), /^vm\.token: line 5: the identity is not a SPIFFE ID/);
    assert.match(error(broken(4, 'idnetity: x')), /^vm\.token: line 5: unknown key 'idnetity'/);
    assert.match(error(broken(3, '')), /^vm\.token: no 'token: \.\.\.' line/);
    assert.match(error(broken(lines.indexOf('-----END CERTIFICATE-----'), 'garbage')), /^vm\.token: line \d+: the certificate begun on line 6 has no '-----END CERTIFICATE-----'/);
    assert.match(error(parseTokenFile(lines.slice(0, 5).join('\n'), 'vm.token')), /^vm\.token: no trust bundle/);
  });

  test('--out writes the token file with mode 0600, even over an existing file', async () => {
    const out = join(dir, 'vm.token');
    writeFileSync(out, 'old', { mode: 0o644 });
    const r = await sluicectl(['token', 'create', '--workload', 'orders-vm-1', '-n', 'shop', '--out', out], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(statSync(out).mode & 0o777, 0o600);
    assert.ok(parseTokenFile(readFileSync(out, 'utf8')).ok);
    assert.match(r.stdout, /^join token [0-9a-f]{12} for Workload shop\/orders-vm-1 written to .*vm\.token \(mode 0600\)\n/);
    assert.ok(!r.stdout.includes('sluice-jt.'), 'the token is in the file only');
  });

  test('token list shows each token and its state but never a secret; token revoke revokes', async () => {
    const created = await call('POST', TOKENS, { workload: 'billing-vm-1' });
    assert.equal(created.status, 201, JSON.stringify(created.json));
    const id = created.json.metadata.name;
    const secret = (created.json.token as string).split('.')[2];
    const revoked = await sluicectl(['token', 'revoke', id, '-n', 'shop'], { env });
    assert.equal(revoked.code, 0, revoked.stderr);
    assert.equal(revoked.stdout, `join token ${id} for Workload shop/billing-vm-1 revoked\n`);
    const list = await sluicectl(['token', 'list', '-n', 'shop'], { env });
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /^ID +WORKLOAD +IDENTITY +STATE +EXPIRES +AGE\n/);
    assert.match(list.stdout, new RegExp(`${id} +billing-vm-1 +spiffe://mesh\\.example/ns/shop/sa/billing +revoked `));
    const raw = await call('GET', TOKENS);
    for (const text of [list.stdout, JSON.stringify(raw.json)]) {
      assert.ok(!text.includes(secret) && !text.includes('secretSha256') && !text.includes('sluice-jt.'), 'no secret, no hash, no token');
    }
    const gone = await sluicectl(['token', 'revoke', 'nosuchtoken0', '-n', 'shop'], { env });
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /join token nosuchtoken0 does not exist in namespace shop/);
  });

  test('a missing Workload, a bad TTL and a missing bearer token are refused with the reason', async () => {
    const ghost = await sluicectl(['token', 'create', '--workload', 'ghost', '-n', 'shop'], { env });
    assert.equal(ghost.code, 1);
    assert.match(ghost.stderr, /Workload "ghost" does not exist in namespace shop; apply it first/);
    const long = await sluicectl(['token', 'create', '--workload', 'orders-vm-1', '-n', 'shop', '--ttl', '30d'], { env });
    assert.equal(long.code, 1);
    assert.match(long.stderr, /invalid ttl: '30d' is too long: a join token lives at most 7d[^\n]*\n {2}ttl: /);
    const noAuth = await call('GET', TOKENS, undefined, 'wrong');
    assert.equal(noAuth.status, 401);
    assert.equal(noAuth.json.reason, 'UNAUTHORIZED');
    const unknownField = await call('POST', TOKENS, { workload: 'orders-vm-1', identity: 'spiffe://mesh.example/ns/shop/sa/admin' });
    assert.equal(unknownField.status, 400);
    assert.match(unknownField.json.message, /unknown field 'identity'/);
  });
});
