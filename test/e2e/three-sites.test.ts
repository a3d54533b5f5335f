// One mesh across three sites on one machine (issue 18, point 6), as
// test/helpers/three-sites.ts builds it: a global and three zones (dc-vm, onprem, cloud)
// as network namespaces on a wan where only 15012 (the global) and 15443 (each zone's
// ingress) cross between sites. Zones dial the global; proxies reach another zone's
// instances through that zone's ingress, mTLS end to end.
//
// dc-vm's caller prefers its own zone's instance. Under steady load the instance dies (its
// app SIGKILLed, its proxy stopped): no request may fail, and the time until every answer
// comes from another site is reported (target 2 s; not asserted: no timing assertions in
// npm test). A request across sites carries the caller's SPIFFE ID to the callee. A zone
// cut from the global keeps serving, and a route applied on the global meanwhile reaches
// it once the link returns. `npm run demo:hybrid` runs this file. Root only (CI runs as
// root); skipped with the reason otherwise.

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { netnsMissing } from '../helpers/netns.ts';
import { fileURLToPath } from 'node:url';
import { startThreeSites, TD, WEB, type Proc, type ThreeSites } from '../helpers/three-sites.ts';

const CLI_MAIN = fileURLToPath(new URL('../../control-plane/cli/main.ts', import.meta.url));

const skip = netnsMissing();
if (skip !== null) console.log(`# skipped: ${skip}`);
const say = (line: string) => console.log(`# ${line}`);

/**
 * The caller's load: GETs through its proxy's outbound port, four at a time, until the file
 * argv[2] exists (at most argv[1] ms), one line per request as it ends: when, then the site
 * that answered and how long it took, or FAIL and why.
 */
const LOAD = `
const http = require('node:http');
const fs = require('node:fs');
const until = Date.now() + Number(process.argv[1]);
const stop = process.argv[2];
const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
const one = () => new Promise((resolve) => {
  const t0 = Date.now();
  const req = http.get({ host: '127.0.0.1', port: 15001, path: '/', headers: { host: '${WEB}' }, agent, timeout: 5000 }, (res) => {
    let body = '';
    res.setEncoding('utf8').on('data', (d) => (body += d)).on('end', () => {
      if (res.statusCode !== 200) return resolve('FAIL ' + res.statusCode + ' ' + body.slice(0, 80).replace(/\\s+/g, '_'));
      try { resolve(JSON.parse(body).site + ' ' + (Date.now() - t0)); } catch { resolve('FAIL body'); }
    });
  });
  req.on('timeout', () => req.destroy(new Error('timeout')));
  req.on('error', (e) => resolve('FAIL ' + e.message.replace(/\\s+/g, '_')));
});
const worker = async () => { while (Date.now() < until && !fs.existsSync(stop)) console.log(Date.now() + ' ' + (await one())); };
Promise.all([worker(), worker(), worker(), worker()]).then(() => process.exit(0));
`;

const stopProc = (p: Proc, signal: 'SIGKILL' | 'SIGTERM') =>
  new Promise((resolve) => {
    if (p.child.exitCode !== null || p.child.signalCode !== null) return resolve(undefined);
    p.child.once('exit', resolve);
    p.child.kill(signal);
  });

describe('one mesh across three sites', { skip: skip ?? false }, () => {
  let m: ThreeSites | undefined;

  before(async () => {
    m = await startThreeSites(say);
  });
  after(async () => {
    await m?.close();
  });

  test("dc-vm's caller is answered by its own zone's instance while it is there", () => {
    for (let i = 0; i < 5; i++) assert.equal(m!.call()?.site, 'dc-vm');
    say("dc-vm -> web: answered by dc-vm's own instance");
    // Which zones serve web, as dc-vm's control plane says it.
    const described = m!.ctl('dc-vm', ['describe', 'service', 'web']);
    const zones = described.slice(described.indexOf('Zones:'));
    assert.match(zones, /dc-vm\s+1\s+local/, described);
    assert.match(zones, /onprem\s+1\s+ingress 10\.77\.0\.3:15443/, described);
    assert.match(zones, /cloud\s+1\s+ingress 10\.77\.0\.4:15443/, described);
    say(`sluicectl describe service web (on dc-vm):\n${zones.trimEnd().replace(/^/gm, '#   ')}`);
    // And the proxies of dc-vm with their zone; its ingress says what it is.
    const status = m!.ctl('dc-vm', ['proxy-status']);
    assert.match(status, /^NAME\s+KIND\s+ZONE\s+CDS/m, status);
    assert.match(status, /^zone-ingress\.default\s+zone-ingress\s+dc-vm\s+SYNCED/m, status);
    assert.match(status, /^caller-1\.default\s+proxy\s+dc-vm\s+SYNCED/m, status);
  });

  test("dc-vm's instance dies under steady load: no request fails, and every answer then comes from another site", async () => {
    const stopFile = join(m!.dir, 'stop-load');
    const load = m!.start('dc-vm', [process.execPath, '-e', LOAD, '60000', stopFile]);
    await new Promise((r) => setTimeout(r, 2000));
    const local = m!.instances.get('dc-vm')!;
    const killedAt = Date.now();
    // The instance dies; its sidecar goes with it, stopped as a VM agent is (SIGTERM, a
    // drain): a proxy SIGKILLed after it sent a response's head cuts that response, which no
    // retry can repair (Envoy's either).
    await stopProc(local.app, 'SIGKILL');
    await stopProc(local.proxy, 'SIGTERM');
    await new Promise((r) => setTimeout(r, 4000));
    writeFileSync(stopFile, '');
    await new Promise((r) => (load.child.exitCode !== null ? r(undefined) : load.child.once('exit', r)));
    const lines = load.out().trim().split('\n').map((l) => l.split(' '));
    const failed = lines.filter((l) => l[1] === 'FAIL');
    const at = (l: string[]) => Number(l[0]);
    const lastLocal = Math.max(0, ...lines.filter((l) => l[1] === 'dc-vm').map(at));
    const remoteAfter = lines.filter((l) => at(l) > killedAt && (l[1] === 'onprem' || l[1] === 'cloud'));
    const firstRemote = Math.min(...remoteAfter.map(at));
    const slowest = Math.max(...lines.filter((l) => at(l) > killedAt && l[1] !== 'FAIL').map((l) => Number(l[2])));
    say(
      `failover: ${lines.length} requests, ${failed.length} failed; last answer from dc-vm ${lastLocal - killedAt} ms after the kill, ` +
        `first from another site ${firstRemote - killedAt} ms after it (target 2000 ms), slowest request after it ${slowest} ms; ` +
        `then onprem ${remoteAfter.filter((l) => l[1] === 'onprem').length}, cloud ${remoteAfter.filter((l) => l[1] === 'cloud').length}`,
    );
    assert.deepEqual(failed.map((l) => l.join(' ')), [], 'no request failed');
    assert.ok(remoteAfter.length > 0, 'answers came from the other sites');
    assert.ok(lines.filter((l) => at(l) > Math.max(lastLocal, killedAt)).every((l) => l[1] === 'onprem' || l[1] === 'cloud'), 'once moved, every answer is from another site');
  });

  test("a request that crosses sites carries the caller's SPIFFE identity to the callee", () => {
    const r = m!.call();
    assert.ok(r !== null && (r.site === 'onprem' || r.site === 'cloud'), JSON.stringify(r));
    assert.match(r.xfcc ?? '', new RegExp(`By=spiffe://${TD}/ns/default/sa/web-${r.site};.*URI=spiffe://${TD}/ns/default/sa/caller(;|$)`));
    say(`dc-vm -> ${r.site} through ${r.site}'s ingress: the callee's proxy saw ${/URI=(\S+)/.exec(r.xfcc ?? '')?.[1]}`);
  });

  test("each zone sees the others' ingresses from its own site: get zones says how they answer, and check fails for one that does not", async () => {
    type Row = { name: string; self?: boolean; ingress: string | null; ingressHealth?: string; ingressReachable?: boolean };
    const rows = () => (JSON.parse(m!.ctl('dc-vm', ['get', 'zones', '-o', 'json'])) as { items: Row[] }).items;
    const until = async (what: string, ok: (r: Row[]) => boolean) => {
      const deadline = Date.now() + 30_000;
      for (let r = rows(); !ok(r); r = rows()) {
        if (Date.now() > deadline) assert.fail(`${what}: not within 30 s; last: ${JSON.stringify(r)}`);
        await new Promise((res) => setTimeout(res, 250));
      }
    };
    await until('every other zone probed reachable', (r) => r.filter((z) => z.self !== true).every((z) => z.ingressReachable === true));
    assert.equal(rows().find((z) => z.self === true)?.ingressHealth, 'ingress proxy connected');
    say(`sluicectl get zones (on dc-vm):\n${m!.ctl('dc-vm', ['get', 'zones']).trimEnd().replace(/^/gm, '#   ')}`);
    const check = () => m!.run('dc-vm', [process.execPath, CLI_MAIN, 'check'], { SLUICE_SERVER: 'http://127.0.0.1:15014', SLUICE_TOKEN_FILE: join(m!.dir, 'dc-vm', 'admin-token') });
    // onprem's ingress goes. dc-vm sees it from whichever comes first: its own probe (refused),
    // or onprem's summary through the global (no ingress connected there any more); check names it.
    m!.ingresses.get('onprem')!.child.kill('SIGKILL');
    await until("onprem's ingress gone, as seen from dc-vm", (r) => r.some((z) => z.name === 'onprem' && (z.ingressReachable === false || z.ingress === null)));
    const r = check();
    assert.notEqual(r.status, 0, String(r.stdout));
    assert.match(String(r.stdout) + String(r.stderr), /zone onprem's ingress 10\.77\.0\.3:15443 does not answer from this site: unreachable: ECONNREFUSED|zone onprem has Services but no zone ingress/);
    say("onprem's ingress killed: dc-vm's get zones and check say it does not answer");
    // Calls go on through cloud's.
    for (let i = 0; i < 5; i++) assert.equal(m!.call()?.site, 'cloud');
  });

  test('a zone cut from the global keeps serving; a route applied on the global meanwhile reaches it after the link returns', async () => {
    const routes = () => (JSON.parse(m!.ctl('cloud', ['get', 'httproutes', '-o', 'json'])) as { items: { metadata: { name: string } }[] }).items.map((i) => i.metadata.name);
    m!.sites.cut('cloud', 'global');
    say('cloud cut from the global');
    try {
      const answered = new Set<string>();
      for (let i = 0; i < 30 && !answered.has('cloud'); i++) answered.add(m!.call()?.site ?? 'FAIL');
      assert.ok(answered.has('cloud'), `cloud still answers through its ingress while cut from the global: ${[...answered].join(', ')}`);
      m!.ctl('global', ['apply'], 'apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: { name: web-tagged }\nspec: { parentRefs: [{ group: "", kind: Service, name: web, port: 80 }], rules: [{ backendRefs: [{ name: web, port: 80 }] }] }\n');
      await new Promise((r) => setTimeout(r, 3000));
      assert.deepEqual(routes(), [], 'cut off, cloud has not heard of the route');
      say('cloud still serves dc-vm through its ingress; a route applied on the global has not reached it');
    } finally {
      m!.sites.heal('cloud', 'global');
    }
    const healedAt = Date.now();
    const deadline = healedAt + 60_000;
    while (!routes().includes('web-tagged')) {
      if (Date.now() > deadline) assert.fail('the route applied on the global did not reach cloud within 60 s of the link coming back');
      await new Promise((r) => setTimeout(r, 250));
    }
    say(`link back: the route reached cloud ${Date.now() - healedAt} ms later, without a restart`);
  });
});
