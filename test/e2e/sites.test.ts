// The sites harness of the multi-zone tests (test/helpers/sites.ts) does what those tests
// rely on: only the ports a site opens cross from another site, answers to a site's own
// connections come back, and a cut between two sites drops their traffic until healed
// while both still reach a third. Root only (CI runs as root); skipped with the reason otherwise.

import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { netnsMissing } from '../helpers/netns.ts';
import { makeSites, type Sites } from '../helpers/sites.ts';

const skip = netnsMissing();
if (skip !== null) console.log(`# skipped: ${skip}`);

const LISTEN = `
const net = require('node:net');
for (const port of process.argv.slice(1).map(Number)) net.createServer((s) => s.end('hi ' + port)).listen(port, '0.0.0.0');
setTimeout(() => console.log('listening'), 100);
`;
const DIAL = `
const s = require('node:net').connect(Number(process.argv[2]), process.argv[1]);
let got = '';
s.setTimeout(1500, () => { console.log('timeout'); process.exit(0); });
s.on('data', (d) => (got += d));
s.on('end', () => { console.log(got); process.exit(0); });
s.on('error', (e) => { console.log(e.code); process.exit(0); });
`;

describe('sites: namespaces joined by a wan, each open on its own ports only', { skip: skip ?? false }, () => {
  let sites: Sites | undefined;
  const servers: ChildProcess[] = [];
  const dial = (from: string, to: string, port: number) =>
    spawnSync('ip', ['netns', 'exec', sites!.site(from).name, process.execPath, '-e', DIAL, sites!.site(to).address, String(port)], { encoding: 'utf8', timeout: 10_000 }).stdout.trim();

  before(async () => {
    sites = makeSites(['global', 'onprem', 'cloud'], { global: [15012], onprem: [15443], cloud: [15443] });
    for (const name of ['global', 'onprem', 'cloud']) {
      const child = spawn('ip', ['netns', 'exec', sites.site(name).name, process.execPath, '-e', LISTEN, '15012', '15443', '8080'], { stdio: ['ignore', 'pipe', 'inherit'] });
      servers.push(child);
      await new Promise<void>((resolve) => child.stdout!.once('data', () => resolve()));
    }
  });
  after(() => {
    for (const s of servers) s.kill('SIGKILL');
    sites?.destroy();
  });

  test('only the opened ports cross between sites; a site reaches its own ports on loopback', () => {
    assert.equal(dial('onprem', 'global', 15012), 'hi 15012');
    assert.equal(dial('onprem', 'cloud', 15443), 'hi 15443');
    assert.equal(dial('cloud', 'onprem', 15443), 'hi 15443');
    assert.equal(dial('onprem', 'global', 8080), 'ECONNREFUSED', 'a port the global does not open');
    assert.equal(dial('onprem', 'cloud', 15012), 'ECONNREFUSED', 'a zone opens its ingress only');
    assert.equal(dial('global', 'onprem', 8080), 'ECONNREFUSED');
    const local = spawnSync('ip', ['netns', 'exec', sites!.site('cloud').name, process.execPath, '-e', DIAL, '127.0.0.1', '8080'], { encoding: 'utf8' }).stdout.trim();
    assert.equal(local, 'hi 8080');
  });

  test('a cut drops the traffic between two sites only, until healed', () => {
    sites!.cut('onprem', 'global');
    try {
      assert.equal(dial('onprem', 'global', 15012), 'timeout');
      assert.equal(dial('cloud', 'global', 15012), 'hi 15012', 'another site still reaches the global');
      assert.equal(dial('onprem', 'cloud', 15443), 'hi 15443', 'and the cut site still reaches the others');
    } finally {
      sites!.heal('onprem', 'global');
    }
    assert.equal(dial('onprem', 'global', 15012), 'hi 15012');
  });
});
