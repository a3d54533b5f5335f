// Certificate rotation between two real proxy processes on 127.0.0.1, with certificates our
// CA made: load -> web's proxy -> mTLS h2 -> api's proxy (STRICT) -> app. The identity files
// are rewritten while traffic flows: no request may fail, new handshakes must get the new
// certificate, live connections keep theirs, a TLS session from before a trust change is
// never resumed, and a file set that does not check out changes nothing.

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import tls from 'node:tls';
import { mergeBundles, type Ca } from '../../../certs/index.ts';
import { clientContext, fingerprintOf, issue, newCa, tempDir, writeIdentity, writeIdentityInSteps, type Svid } from '../../helpers/mesh-pki.ts';
import { WEB, API, WRITE_GAP_MS, SOON_MS, apiConfig, webConfig, startMesh, stopMesh, startTraffic, viaWeb, direct, keepAliveGet, shown, isApi, directOnce, certsOf, reloaded, refusedSets, newWebConnection, writeFile, type Mesh } from '../../helpers/rotation-mesh.ts';
import { waitFor } from '../../helpers/wait.ts';
import { startProxy, type ProxyProcess } from '../../helpers/proxy-process.ts';
import { startUpstream, type Upstream } from '../../helpers/upstream.ts';

describe('certificate rotation under load', () => {
  const dir = tempDir('sluice-rotation-');
  let ca: Ca;
  let m: Mesh;

  before(async () => {
    ca = newCa();
    m = await startMesh(dir, { api: issue(ca, API), web: issue(ca, WEB), bundle: ca.bundle, witness: issue(ca, API) });
  });

  /** Gives api a new SVID and waits until it serves it, so a test does not depend on the one before. */
  async function newApiSvid(): Promise<Svid> {
    const svid = issue(ca, API);
    writeIdentity(join(dir, 'api'), svid, ca.bundle);
    await reloaded(m.api, (c) => c.fingerprint === fingerprintOf(svid), "api's starting certificate in its /certs");
    return svid;
  }

  after(() => stopMesh(m));

  test('rotating both certificates three times under load fails no request, and new handshakes get the new ones', async (t) => {
    const { api, web, pool } = m;
    // Made before the load starts: RSA key generation blocks this process's event loop.
    const rounds = Array.from({ length: 3 }, () => ({ api: issue(ca, API), web: issue(ca, WEB) }));
    const directContext = clientContext(issue(ca, WEB), ca.bundle);
    const refusedBefore = refusedSets(api).length + refusedSets(web).length;

    // web's plaintext side, 16 at a time. It crosses on one web -> api h2 connection, opened
    // before the first rotation and kept through all three: a live connection keeps working.
    const load = startTraffic(m, { workers: 16, perSecond: 300, max: 3000, maxMs: 30_000 }, (n) => viaWeb(pool, `/load/${n}`));
    // New handshakes with api all along: a new TLS connection per request.
    const handshakes = startTraffic(m, { workers: 2, perSecond: 50, max: 1000, maxMs: 30_000 }, directOnce(api.ports.inbound, () => directContext));
    // New handshakes from web to api all along (see webConfig), and to the witness.
    const fresh = startTraffic(m, { workers: 1, perSecond: 4, max: 120, maxMs: 30_000 }, (n) => viaWeb(pool, `/fresh/rotation/${n}`));
    const witnessed = startTraffic(m, { workers: 1, perSecond: 4, max: 120, maxMs: 30_000 }, (n) => viaWeb(pool, `/witness/${n}`));

    for (const next of rounds) {
      const mark = load.ok();
      await waitFor(() => load.ok() >= mark + 100, SOON_MS, 'the load moving between rotations');
      const okBefore = load.ok() + handshakes.ok();
      await writeIdentityInSteps(join(dir, 'api'), next.api, ca.bundle, WRITE_GAP_MS);
      await reloaded(api, (c) => c.fingerprint === fingerprintOf(next.api), "api's new certificate in its /certs");
      await writeIdentityInSteps(join(dir, 'web'), next.web, ca.bundle, WRITE_GAP_MS);
      await reloaded(web, (c) => c.fingerprint === fingerprintOf(next.web), "web's new certificate in its /certs");
      assert.ok(load.ok() + handshakes.ok() > okBefore, 'requests went on while the files were rewritten');
      const from = fresh.started();
      await waitFor(() => newWebConnection(api, '/fresh/rotation/', from), SOON_MS, 'a web -> api connection opened after the rotation');
      await waitFor(() => m.witness!.seen.includes(fingerprintOf(next.web)), SOON_MS, "web's new certificate shown in a new handshake");
    }
    const mark = load.ok();
    await waitFor(() => load.ok() >= mark + 100, SOON_MS, 'the load moving after the last rotation');
    await Promise.all([load.stop(), handshakes.stop(), fresh.stop(), witnessed.stop()]);

    assert.deepEqual([...load.failures, ...handshakes.failures, ...fresh.failures, ...witnessed.failures], []);
    const counts = `through web ${load.ok()}, new handshakes with api ${handshakes.ok()}, new web -> api connections ${fresh.ok()}, to the witness ${witnessed.ok()}`;
    t.diagnostic(counts);
    assert.ok(load.ok() >= 400 && handshakes.ok() > 0 && fresh.ok() > 0, counts);
    // Nothing was hidden by web retrying a failed try either.
    for (const c of await web.clusters()) assert.equal(c.retries, 0, `retries to ${c.name}`);
    // The writer's half-written sets were seen (a new cert with the old key) and refused.
    assert.ok(refusedSets(api).length + refusedSets(web).length > refusedBefore, 'a half-written set was refused at least once');

    const last = rounds[rounds.length - 1];
    assert.equal((await certsOf(api)).fingerprint, fingerprintOf(last.api));
    assert.equal((await certsOf(web)).fingerprint, fingerprintOf(last.web));
    const check = await direct(api.ports.inbound, directContext, '/check');
    assert.ok('status' in check && check.status === 200, shown(check));
    assert.equal(check.fingerprint, fingerprintOf(last.api), 'a new handshake gets the last certificate written');
    // api knew web by its SPIFFE ID on every connection, whichever of web's certificates it showed.
    const fromWeb = await waitFor(() => {
      const lines = api.accessLog().filter((l) => /^\/(load|fresh)\//.test(String(l.path)));
      return lines.length === load.ok() + fresh.ok() && lines;
    }, SOON_MS, "api's access-log line for each request from web");
    assert.deepEqual(new Set(fromWeb.map((l) => l.downstream_peer)), new Set([WEB]));
    const loadConnections = new Set(fromWeb.filter((l) => String(l.path).startsWith('/load/')).map((l) => l.downstream_remote));
    assert.equal(loadConnections.size, 1, 'the load crossed on one connection, made before the first rotation');
  });

  test('a connection opened before a rotation keeps working after it, on the certificate it was made with', async () => {
    const { api, app } = m;
    const original = await newApiSvid();
    const svid = issue(ca, WEB);
    const socket = tls.connect({ host: '127.0.0.1', port: api.ports.inbound, secureContext: clientContext(svid, ca.bundle), servername: 'api', ALPNProtocols: ['http/1.1'], checkServerIdentity: isApi });
    try {
      await once(socket, 'secureConnect');
      // Read now: a TLS 1.3 client socket stops showing it once the session ticket comes in.
      assert.equal(socket.getPeerX509Certificate()?.fingerprint256, fingerprintOf(original));
      assert.equal(await keepAliveGet(socket, '/before'), 200);

      const rotated = issue(ca, API);
      writeIdentity(join(dir, 'api'), rotated, ca.bundle);
      await reloaded(api, (c) => c.fingerprint === fingerprintOf(rotated), "api's new certificate in its /certs");

      assert.equal(await keepAliveGet(socket, '/after'), 200, 'the connection made before the rotation still carries requests');
      assert.equal(app.seen.at(-1)?.url, '/after');
      // One connection, one handshake (TLS 1.3 has no renegotiation): api saw both on it.
      await waitFor(() => api.accessLog().some((l) => l.path === '/after'), SOON_MS, "api's access-log line for /after");
      const remotes = api.accessLog().filter((l) => l.path === '/before' || l.path === '/after').map((l) => l.downstream_remote);
      assert.deepEqual(remotes, [`127.0.0.1:${socket.localPort}`, `127.0.0.1:${socket.localPort}`]);
      const fresh = await direct(api.ports.inbound, clientContext(svid, ca.bundle), '/new');
      assert.ok('status' in fresh && fresh.status === 200, shown(fresh));
      assert.equal(fresh.fingerprint, fingerprintOf(rotated), 'a new connection gets the new certificate');
    } finally {
      socket.destroy();
    }
  });

  test('a file set that does not check out is not loaded: the current certificate stays and traffic goes on', async () => {
    const { api, pool } = m;
    const good = await newApiSvid();
    const current = fingerprintOf(good);
    const broken = [
      { what: "a key that is not the certificate's", svid: { cert: good.cert, key: issue(ca, API).key }, error: "the key is not the certificate's key" },
      { what: 'an expired certificate', svid: issue(ca, API, { now: Date.now() - 7_200_000, ttlMs: 3_600_000 }), error: 'the certificate expired at' },
      { what: "a certificate another CA signed (it does not chain to api's bundle)", svid: issue(newCa(), API), error: 'the certificate does not chain to a root of the bundle' },
    ];
    const directContext = clientContext(issue(ca, WEB), ca.bundle);
    // New handshakes with api must keep showing the current certificate throughout.
    const handshakes = startTraffic(m, { workers: 1, perSecond: 40, max: 800, maxMs: 20_000 }, directOnce(api.ports.inbound, () => directContext, () => current));
    const viaWebTraffic = startTraffic(m, { workers: 2, perSecond: 100, max: 2000, maxMs: 20_000 }, (n) => viaWeb(pool, `/steady/${n}`));
    const fresh = startTraffic(m, { workers: 1, perSecond: 4, max: 80, maxMs: 20_000 }, (n) => viaWeb(pool, `/fresh/broken/${n}`));
    try {
      for (const b of broken) {
        const seen = refusedSets(api).length;
        writeIdentity(join(dir, 'api'), b.svid, ca.bundle);
        const line = await waitFor(() => refusedSets(api).slice(seen).find((l) => l.includes(b.error)), SOON_MS, `the warning for ${b.what}`);
        assert.equal(JSON.parse(line).level, 'warn');
        assert.equal((await certsOf(api)).fingerprint, current, b.what);
        const from = fresh.started();
        await waitFor(() => newWebConnection(api, '/fresh/broken/', from), SOON_MS, `a new web -> api connection after ${b.what}`);
      }
    } finally {
      await Promise.all([handshakes.stop(), viaWebTraffic.stop(), fresh.stop()]);
      writeIdentity(join(dir, 'api'), good, ca.bundle);
    }
    assert.deepEqual([...handshakes.failures, ...viaWebTraffic.failures, ...fresh.failures], []);
    assert.ok(handshakes.ok() > 0 && viaWebTraffic.ok() > 0);
  });
});

describe('root rotation by overlap', () => {
  const dir = tempDir('sluice-root-rotation-');
  let ca1: Ca;
  let ca2: Ca;
  let api1: Svid;
  let web1: Svid;
  let m: Mesh;

  before(async () => {
    ca1 = newCa();
    ca2 = newCa();
    api1 = issue(ca1, API);
    web1 = issue(ca1, WEB);
    m = await startMesh(dir, { api: api1, web: web1, bundle: ca1.bundle });
  });

  after(() => stopMesh(m));

  test('moving both proxies from root1 to root2 by overlap fails no request; at the end root1 certificates are refused', async () => {
    const { api, web, pool } = m;
    const both = mergeBundles(ca1.bundle, ca2.bundle);
    const api2 = issue(ca2, API);
    const web2 = issue(ca2, WEB);

    // A third workload calling api directly, a new connection per request, moving to root2 with web.
    let directContext = clientContext(issue(ca1, WEB), both);
    const directCa2 = clientContext(issue(ca2, WEB), both);
    const steady = startTraffic(m, { workers: 2, perSecond: 50, max: 1500, maxMs: 30_000 }, (n) => viaWeb(pool, `/steady/${n}`));
    const fresh = startTraffic(m, { workers: 1, perSecond: 4, max: 120, maxMs: 30_000 }, (n) => viaWeb(pool, `/fresh/overlap/${n}`));
    const handshakes = startTraffic(m, { workers: 1, perSecond: 20, max: 600, maxMs: 30_000 }, directOnce(api.ports.inbound, () => directContext));

    const apiDir = join(dir, 'api');
    const webDir = join(dir, 'web');
    const steps = [
      {
        name: 'both bundles hold root1 and root2',
        write: () => Promise.all([writeIdentityInSteps(apiDir, api1, both, WRITE_GAP_MS), writeIdentityInSteps(webDir, web1, both, WRITE_GAP_MS)]),
        visible: () => Promise.all([reloaded(api, (c) => c.roots === 2, 'api trusting both roots'), reloaded(web, (c) => c.roots === 2, 'web trusting both roots')]),
      },
      {
        // web's new handshakes now check a CA2 chain against the bundle it got in step 1.
        name: "api's certificate comes from CA2",
        write: () => writeIdentityInSteps(apiDir, api2, both, WRITE_GAP_MS),
        visible: () => reloaded(api, (c) => c.fingerprint === fingerprintOf(api2), "api's CA2 certificate"),
      },
      {
        // api's new handshakes now check web's CA2 chain.
        name: "web's certificate comes from CA2",
        write: () => writeIdentityInSteps(webDir, web2, both, WRITE_GAP_MS),
        visible: () => reloaded(web, (c) => c.fingerprint === fingerprintOf(web2), "web's CA2 certificate"),
      },
      {
        // From here a new connection from web succeeds only if web shows its CA2 certificate.
        name: 'both bundles hold root2 only',
        write: () => Promise.all([writeIdentityInSteps(apiDir, api2, ca2.bundle, WRITE_GAP_MS), writeIdentityInSteps(webDir, web2, ca2.bundle, WRITE_GAP_MS)]),
        visible: () => Promise.all([reloaded(api, (c) => c.roots === 1, 'api trusting root2 only'), reloaded(web, (c) => c.roots === 1, 'web trusting root2 only')]),
      },
    ];
    for (const step of steps) {
      const okBefore = steady.ok() + handshakes.ok();
      await step.write();
      await step.visible();
      // The direct caller moves to its CA2 certificate along with web, before root1 goes.
      if (step.name === "web's certificate comes from CA2") directContext = directCa2;
      const from = fresh.started();
      await waitFor(() => newWebConnection(api, '/fresh/overlap/', from), SOON_MS, `a new web -> api connection once ${step.name}`);
      assert.ok(steady.ok() + handshakes.ok() > okBefore, `requests went on while ${step.name}`);
    }
    await Promise.all([steady.stop(), fresh.stop(), handshakes.stop()]);
    assert.deepEqual([...steady.failures, ...fresh.failures, ...handshakes.failures], []);
    for (const c of await web.clusters()) assert.equal(c.retries, 0, `retries to ${c.name}`);

    const [apiCerts, webCerts] = [await certsOf(api), await certsOf(web)];
    assert.deepEqual([apiCerts.fingerprint, apiCerts.roots], [fingerprintOf(api2), 1]);
    assert.deepEqual([webCerts.fingerprint, webCerts.roots], [fingerprintOf(web2), 1]);
    // The client trusts both roots, so a refusal can only be api's.
    const before = m.app.seen.length;
    const old = await direct(api.ports.inbound, clientContext(issue(ca1, WEB), both), '/root1');
    assert.ok('error' in old, `a root1 client certificate was accepted: ${shown(old)}`);
    assert.equal(m.app.seen.length, before);
    const now = await direct(api.ports.inbound, directCa2, '/root2');
    assert.ok('status' in now && now.status === 200, shown(now));
    assert.equal(now.fingerprint, fingerprintOf(api2));
  });
});

describe('TLS session resumption across a trust change (CVE-2022-21654)', () => {
  const dir = tempDir('sluice-resumption-');
  let ca1: Ca;
  let ca2: Ca;
  let app: Upstream;
  let api: ProxyProcess;

  before(async () => {
    ca1 = newCa();
    ca2 = newCa();
    writeIdentity(join(dir, 'api'), issue(ca1, API), ca1.bundle);
    app = await startUpstream('app');
    api = await startProxy(writeFile(dir, 'api.yaml', apiConfig(app.port)));
  });

  after(async () => {
    await api?.stop();
    await app?.close();
  });

  test('no session is ever resumed, and one from before the bundle changed does not get an old client certificate past it', async () => {
    const web1 = issue(ca1, WEB);
    // Trusting both roots: after the change the client accepts api, so a refusal is api's.
    const both = mergeBundles(ca1.bundle, ca2.bundle);
    const versions = ['TLSv1.3', 'TLSv1.2'] as const;
    const contexts = new Map(versions.map((v) => [v, tls.createSecureContext({ cert: web1.cert, key: web1.key, ca: both, minVersion: v, maxVersion: v })]));
    const sessions = new Map<string, Buffer>();
    for (const v of versions) {
      const first = await direct(api.ports.inbound, contexts.get(v)!, '/first');
      assert.ok('status' in first && first.status === 200, `${v}: ${shown(first)}`);
      assert.ok(first.session !== undefined, `${v}: the client has a session to offer`);
      sessions.set(v, first.session);
      const again = await direct(api.ports.inbound, contexts.get(v)!, '/again', first.session);
      assert.ok('status' in again && again.status === 200, `${v}: ${shown(again)}`);
      assert.equal(again.reused, false, `${v}: resumption is off, even with nothing changed`);
    }

    const api2 = issue(ca2, API);
    writeIdentity(join(dir, 'api'), api2, ca2.bundle);
    await reloaded(api, (c) => c.fingerprint === fingerprintOf(api2) && c.roots === 1, 'api on CA2, trusting root2 only');

    const seen = app.seen.length;
    for (const v of versions) {
      const late = await direct(api.ports.inbound, contexts.get(v)!, '/late', sessions.get(v));
      assert.ok('error' in late, `${v}: the old session or certificate got in: ${shown(late)}`);
      assert.equal(late.reused, false, `${v}: the session was resumed`);
    }
    assert.equal(app.seen.length, seen, 'no request reached the app');
    const web2 = issue(ca2, WEB);
    const now = await direct(api.ports.inbound, clientContext(web2, both), '/root2');
    assert.ok('status' in now && now.status === 200, `a CA2 client gets in: ${shown(now)}`);
  });
});
