// sluicectl proxy-status's table for a proxy that left: OFFLINE in every type column, and
// a line saying since when and from where, instead of the proxy vanishing from the list.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ApiClient } from '../../../control-plane/cli/client.ts';
import { runCli } from '../../../control-plane/cli/run.ts';
import { captureContext } from './harness.ts';

const NOW = Date.parse('2026-12-06T10:00:00Z');
const synced = { state: 'SYNCED', version: 'abcdef0123', sent: 'abcdef0123', acked: 'abcdef0123', resources: 'all' };
const ROWS = [
  { id: 'orders-1.default', kind: 'proxy', status: 'CONNECTED', peer: 'ipv4:127.0.0.1:40000', connectedAt: '2026-12-06T09:59:00Z', userAgent: 'sluice-proxy', types: { Cluster: synced, Listener: synced } },
  { id: 'orders-2.default', kind: 'proxy', status: 'OFFLINE', lastSeen: '2026-12-06T09:55:00Z', peer: 'ipv4:127.0.0.1:40001', connectedAt: '2026-12-06T09:00:00Z', userAgent: 'sluice-proxy', types: { Cluster: synced } },
];

test('an offline proxy is listed as OFFLINE, with when it was last seen', async () => {
  const ctx = captureContext({ env: { SLUICE_SERVER: 'http://127.0.0.1:1', SLUICE_TOKEN: 't' }, clock: () => NOW });
  const fake = { proxyStatus: async () => ROWS, close: async () => {} } as unknown as ApiClient;
  const code = await runCli(['proxy-status'], { ...ctx, connect: () => fake });
  const out = ctx.out.join('');
  assert.equal(code, 0, ctx.err.join(''));
  assert.match(out, /\norders-1\.default\s+proxy\s+SYNCED \(abcdef01\)\s+SYNCED \(abcdef01\)\s+-\s+-\s+-\s+1m\n/);
  assert.match(out, /\norders-2\.default\s+proxy\s+OFFLINE\s+OFFLINE\s+OFFLINE\s+OFFLINE\s+OFFLINE\s+1h\n/);
  assert.match(out, /orders-2\.default is OFFLINE: last seen 2026-12-06T09:55:00Z \(5m ago\), from ipv4:127\.0\.0\.1:40001/);
});
