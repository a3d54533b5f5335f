// sluice-proxy's flags as an operator types them: relative paths are the working
// directory's, resolved once (a relative identity folder was once joined onto itself:
// 'sluice-identity/sluice-identity/cert.pem'), and values the control plane would refuse
// later are refused at the start, with the flag named.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { MAX_WORKERS, parseFlags, usage } from '../../proxy/flags.ts';

const xds = (argv: string[]) => {
  const r = parseFlags(['--control-plane', '127.0.0.1:15012', ...argv]);
  assert.ok(r.ok === true, r.ok === false ? r.error : 'help');
  return r.flags.xds!;
};

test('relative --token and --identity-dir (the default ./sluice-identity included) resolve against the working directory', () => {
  assert.equal(xds([]).identityDir, join(process.cwd(), 'sluice-identity'));
  const f = xds(['--token', 'orders.token', '--identity-dir', '../vm/id']);
  assert.equal(f.tokenFile, join(process.cwd(), 'orders.token'));
  assert.equal(f.identityDir, join(process.cwd(), '..', 'vm', 'id'));
  assert.equal(xds(['--identity-dir', '/var/lib/sluice/identity']).identityDir, '/var/lib/sluice/identity');
  assert.equal(xds([]).tokenFile, null);
});

test('--outbound-port 0 is refused: the control plane puts the outbound listener on that very port', () => {
  const r = parseFlags(['--control-plane', '127.0.0.1:15012', '--outbound-port', '0']);
  assert.equal(r.ok, false);
  assert.match((r as { error: string }).error, /^--outbound-port: 0 is not a port/);
});

test('--mode zone-ingress listens on 15443 unless --ingress-port says otherwise; a sidecar is no ingress', () => {
  assert.deepEqual(xds(['--mode', 'zone-ingress']).zoneIngress, { port: 15443 });
  assert.deepEqual(xds(['--mode', 'zone-ingress', '--ingress-port', '16443']).zoneIngress, { port: 16443 });
  assert.equal(xds([]).zoneIngress, null);
  assert.equal(xds(['--mode', 'sidecar']).zoneIngress, null);
});

test('--mode and --ingress-port are refused where they mean nothing, with the flag named', () => {
  const error = (argv: string[]) => {
    const r = parseFlags(argv);
    assert.equal(r.ok, false, argv.join(' '));
    return (r as { error: string }).error;
  };
  const cp = ['--control-plane', '127.0.0.1:15012'];
  assert.equal(error([...cp, '--mode', 'gateway']), "--mode: 'gateway' is not sidecar or zone-ingress");
  assert.equal(error([...cp, '--ingress-port', '16443']), '--ingress-port applies with --mode zone-ingress only');
  assert.match(error([...cp, '--mode', 'zone-ingress', '--ingress-port', '0']), /^--ingress-port: 0 is not a port other zones can be told/);
  assert.equal(error([...cp, '--mode', 'zone-ingress', '--capture']), '--capture does not apply with --mode zone-ingress: an ingress serves no app of its own');
  assert.equal(error([...cp, '--mode', 'zone-ingress', '--app', 'http=8080']), '--app does not apply with --mode zone-ingress: an ingress serves no app of its own');
  assert.equal(error(['--config', 'x.yaml', '--mode', 'zone-ingress']), '--mode applies with --control-plane only');
});

test('--workers takes 1 to MAX_WORKERS threads (default 1), with --config or --control-plane; anything else names the flag', () => {
  const workers = (argv: string[]) => {
    const r = parseFlags(argv);
    return r.ok === true ? r.flags.workers : r.ok === false ? r.error : r.ok;
  };
  assert.equal(workers(['--config', 'p.yaml']), 1);
  assert.equal(workers(['--config', 'p.yaml', '--workers', '2']), 2);
  assert.equal(workers(['--control-plane', 'cp:15012', '--workers', '3']), 3);
  assert.equal(workers(['--config', 'p.yaml', '--workers', String(MAX_WORKERS)]), MAX_WORKERS);
  for (const bad of ['0', '-1', '1.5', 'two', '', String(MAX_WORKERS + 1)]) {
    assert.equal(workers(['--config', 'p.yaml', `--workers=${bad}`]), `--workers: '${bad}' is not a number of workers from 1 to ${MAX_WORKERS}`);
  }
  assert.match(usage, /--workers N/);
});
