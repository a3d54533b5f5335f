// sluice-proxy's capture flags: --capture with its inbound port, strict egress and probe
// address, and the mistakes named.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseFlags } from '../../../proxy/flags.ts';

const cp = ['--control-plane', 'cp.mesh.internal:15012'];

test('--capture: inbound port 15006, passthrough egress and the probe address by default; each can be set', () => {
  const d = parseFlags([...cp, '--capture']);
  assert.ok(d.ok === true);
  assert.deepEqual(d.flags.xds?.capture, { inboundPort: 15006, strictEgress: false, probe: { address: '127.0.0.254', port: 15002 } });
  assert.equal(d.flags.xds?.outboundPort, 15001);
  const set = parseFlags([...cp, '--capture', '--inbound-port', '16006', '--strict-egress', '--capture-probe', '127.0.0.9:16002']);
  assert.ok(set.ok === true);
  assert.deepEqual(set.flags.xds?.capture, { inboundPort: 16006, strictEgress: true, probe: { address: '127.0.0.9', port: 16002 } });
  const none = parseFlags(cp);
  assert.ok(none.ok === true);
  assert.equal(none.flags.xds?.capture, null);
});

test('capture mistakes are named', () => {
  const error = (argv: string[]) => {
    const r = parseFlags(argv);
    return r.ok === false ? r.error : assert.fail(`accepted: ${argv.join(' ')}`);
  };
  assert.equal(error([...cp, '--capture', '--inbound-port', '15001']), '--inbound-port: 15001 cannot be the inbound capture port; give another port than --outbound-port (default 15006)');
  assert.equal(error([...cp, '--capture', '--capture-probe', 'localhost:1']), "--capture-probe: 'localhost:1' is not IPV4:PORT (e.g. 127.0.0.254:15002)");
  assert.equal(error([...cp, '--strict-egress']), '--strict-egress applies with --capture only');
  assert.equal(error(['--config', 'x.yaml', '--capture']), '--capture applies with --control-plane only');
});
