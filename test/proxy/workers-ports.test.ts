// What a worker thread is told to bind (workers/pool.ts withBoundPorts): a listener on port 0
// gets the port the main thread bound, so every thread shares it (SO_REUSEPORT).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseStaticConfig } from '../../proxy/config/load-static.ts';
import { withBoundPorts } from '../../proxy/workers/pool.ts';

test('port 0 becomes the bound port; fixed ports and unbound listeners stay as they are', () => {
  const r = parseStaticConfig(`
listeners:
  - { name: any, address: 127.0.0.1, port: 0, protocol: http }
  - { name: fixed, address: 127.0.0.1, port: 18080, protocol: http }
  - { name: tcp, address: 127.0.0.1, port: 0, protocol: tcp, backend: up }
backends: [{ name: up, endpoints: [{ address: 127.0.0.1, port: 9 }] }]
`);
  assert.ok(r.ok, r.ok ? '' : JSON.stringify(r.error));
  const out = withBoundPorts(r.value, { any: 40001, fixed: 18080, tcp: 40002 });
  assert.deepEqual(out.listeners.map((l) => [l.name, l.port]), [['any', 40001], ['fixed', 18080], ['tcp', 40002]]);
  assert.deepEqual(r.value.listeners.map((l) => l.port), [0, 18080, 0], 'the main thread keeps its own config');
  const fixedOnly = parseStaticConfig('listeners: [{ name: fixed, address: 127.0.0.1, port: 18080, protocol: http }]\n');
  assert.ok(fixedOnly.ok);
  assert.equal(withBoundPorts(fixedOnly.value, { fixed: 18080 }), fixedOnly.value, 'nothing to change: the same object');
});
