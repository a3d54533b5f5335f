// SO_ORIGINAL_DST through koffi, for real: inside a namespace where iptables REDIRECTs
// 10.96.0.10:80 to a listener, that listener reads 10.96.0.10:80 back; a connection that
// was not redirected reads the listener's own address.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { deleteNetns, makeNetns, netnsMissing } from '../../helpers/netns.ts';

const skip = netnsMissing();
if (skip !== null) console.log(`# skipped: ${skip}`);
const MODULE = fileURLToPath(new URL('../../../proxy/capture/original-dst.ts', import.meta.url));

const SCRIPT = `
import net from 'node:net';
import { originalDst } from ${JSON.stringify(MODULE)};
const seen = [];
const server = net.createServer((c) => {
  seen.push(originalDst(c));
  c.end();
  if (seen.length === 2) { console.log(JSON.stringify(seen)); server.close(); }
});
server.listen(15001, '0.0.0.0', () => {
  const a = net.connect(80, '10.96.0.10');
  a.on('error', (e) => { console.error(e.message); process.exit(1); });
  a.resume();
  a.on('close', () => {
    const b = net.connect(15001, '127.0.0.1');
    b.on('error', (e) => { console.error(e.message); process.exit(1); });
    b.resume();
  });
});
`;

describe('originalDst', { skip: skip ?? false }, () => {
  test('reads where a REDIRECTed connection was going, and the local address of one that was not', () => {
    const ns = makeNetns('odst');
    const dir = mkdtempSync(join(tmpdir(), 'sluice-odst-'));
    try {
      // With a source address: a route on lo alone would have the kernel pick 0.0.0.0, and the answer never arrives.
      ns.exec('ip', ['route', 'add', '10.96.0.0/24', 'dev', 'lo', 'src', '127.0.0.1']);
      ns.exec('iptables', ['-t', 'nat', '-A', 'OUTPUT', '-p', 'tcp', '-d', '10.96.0.10', '--dport', '80', '-j', 'REDIRECT', '--to-ports', '15001']);
      writeFileSync(join(dir, 'probe.ts'), SCRIPT);
      const r = spawnSync('ip', ['netns', 'exec', ns.name, process.execPath, join(dir, 'probe.ts')], { encoding: 'utf8', timeout: 30_000 });
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual(JSON.parse(r.stdout), [
        { address: '10.96.0.10', port: 80 },
        { address: '127.0.0.1', port: 15001 },
      ]);
    } finally {
      deleteNetns(ns);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
