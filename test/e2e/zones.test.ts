// Zones (issue 18, points 1, 4 and 5): a global and two zones, real sluice-cp processes on
// 127.0.0.1. Each zone enrolls with a zone token and gets its intermediate from the global's
// root; proxies joined to each zone hold SVIDs chained through their zone's intermediate and
// talk mTLS across the two zones' CAs; the zones' Services reach the global and each other;
// the global killed, a zone keeps serving and issuing; the link cut (a TCP relay between
// zone and global, closed), a route applied on the global reaches the zone when it returns.

import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { sluicectl } from '../control-plane/cli/harness.ts';
import { startControlPlane, type ControlPlaneProcess } from '../helpers/control-plane.ts';
import { closedPort } from '../helpers/ports.ts';
import { startProxy, type ProxyProcess } from '../helpers/proxy-process.ts';
import { startUpstream, type Upstream } from '../helpers/upstream.ts';
import { allStarted } from '../helpers/wait.ts';

const TD = 'zones.sluice.dev';
const HOST = 'web.default.svc.cluster.local';
const root = mkdtempSync(join(tmpdir(), 'sluice-zones-'));
const ports: Record<string, number> = {};
let global: ControlPlaneProcess;
let onprem: ControlPlaneProcess;
let cloud: ControlPlaneProcess;
let relay: Relay;
let app: Upstream;
const proxies: ProxyProcess[] = [];

const ctl = async (cp: ControlPlaneProcess, argv: string[], stdin?: string) => {
  const r = await sluicectl(argv, { env: { SLUICE_SERVER: cp.url, SLUICE_TOKEN_FILE: cp.tokenFile }, stdin });
  assert.equal(r.code, 0, `sluicectl ${argv.join(' ')}: ${r.stderr}`);
  return r.stdout;
};
const ctlFails = async (cp: ControlPlaneProcess, argv: string[], stdin?: string) => {
  const r = await sluicectl(argv, { env: { SLUICE_SERVER: cp.url, SLUICE_TOKEN_FILE: cp.tokenFile }, stdin });
  assert.notEqual(r.code, 0, `sluicectl ${argv.join(' ')} should fail: ${r.stdout}`);
  return r.stderr;
};

type ZoneRow = { name: string; status: string; proxies: number; ingress: string | null; services: number; self?: boolean };
const zones = async (cp: ControlPlaneProcess) => JSON.parse(await ctl(cp, ['get', 'zones', '-o', 'json'])) as { role: string; items: ZoneRow[] };

async function eventually<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) assert.fail(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** A TCP relay on a fixed port: what a zone dials as its global. close() cuts the link (listener and live connections); open() brings it back. */
type Relay = { open(): Promise<void>; close(): Promise<void> };
function tcpRelay(port: number, target: number): Relay {
  let server: net.Server | null = null;
  const live = new Set<net.Socket>();
  return {
    open: () =>
      new Promise((resolve) => {
        server = net.createServer((c) => {
          const up = net.connect(target, '127.0.0.1');
          // Either end gone, the other goes too: a global that is down refuses the zone, as without the relay.
          for (const [s, other] of [[c, up], [up, c]]) {
            live.add(s);
            s.on('close', () => {
              live.delete(s);
              other.destroy();
            });
            s.on('error', () => {});
          }
          c.pipe(up).pipe(c);
        });
        server.listen(port, '127.0.0.1', () => resolve());
      }),
    close: () =>
      new Promise((resolve) => {
        for (const s of live) s.destroy();
        if (server === null) return resolve();
        server.close(() => resolve());
        server = null;
      }),
  };
}

const startZone = (name: string, dataDir: string, args: string[]) =>
  startControlPlane({ dataDir, args: ['--role', 'zone', '--zone', name, '--global', `127.0.0.1:${ports.relay}`, ...args], timeoutMs: 30_000 });

const mintZoneToken = async (zone: string) => {
  const file = join(root, `${zone}-${Date.now()}.zone-token`);
  await ctl(global, ['zone', 'token', 'create', zone, '--ttl', '10m', '--out', file]);
  return file;
};

const joinProxy = async (zone: ControlPlaneProcess, workload: string, args: string[]) => {
  const file = join(root, `${workload}.token`);
  await ctl(zone, ['token', 'create', '--workload', workload, '--ttl', '10m', '--out', file]);
  const p = await startProxy('', ['--control-plane', zone.xds, '--token', file, '--identity-dir', join(root, workload), '--access-log', 'off', '--drain-timeout', '1s', ...args], { readyTimeoutMs: 30_000 });
  proxies.push(p);
  return p;
};

/** A call from the caller's app through its proxy in onprem to web in cloud. */
function call(): Promise<{ status: number; headers: Record<string, string> }> {
  return new Promise((resolve) => {
    const req = http.request({ host: '127.0.0.1', port: ports.outbound, path: '/', headers: { host: HOST }, agent: false, signal: AbortSignal.timeout(10_000) }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.statusCode === 200 ? (JSON.parse(body) as { headers: Record<string, string> }).headers : {} }));
      res.on('error', () => resolve({ status: 0, headers: {} }));
    });
    req.on('error', () => resolve({ status: 0, headers: {} }));
    req.end();
  });
}
const served = (what: string, ok: (h: Record<string, string>) => boolean = () => true) =>
  eventually(what, async () => {
    const r = await call();
    return r.status === 200 && ok(r.headers) ? r : undefined;
  });

/** sluice_cp_zone_link_up from a control plane's /metrics (no token), by zone. */
async function linkUp(cp: ControlPlaneProcess): Promise<Record<string, number>> {
  const text = await (await fetch(`${cp.url}/metrics`)).text();
  return Object.fromEntries([...text.matchAll(/^sluice_cp_zone_link_up\{zone="([^"]+)"\} (\d+)$/gm)].map((m) => [m[1], Number(m[2])]));
}

const SERVICE = 'apiVersion: v1\nkind: Service\nmetadata: { name: web }\nspec: { selector: { app: web }, ports: [{ name: http, port: 80 }] }\n';
const workload = (name: string, labels: string, port: number | null, sa: string) =>
  `apiVersion: mesh.sluice.dev/v1alpha1\nkind: Workload\nmetadata: { name: ${name}, labels: { ${labels} } }\nspec: { address: 127.0.0.1, ${port === null ? '' : `ports: { http: ${port} }, `}serviceAccount: ${sa} }\n`;

before(async () => {
  for (const p of ['globalXds', 'onpremXds', 'relay', 'webInbound', 'outbound']) ports[p] = await closedPort();
  global = await startControlPlane({ dataDir: join(root, 'global'), args: ['--role', 'global', '--trust-domain', TD, '--xds-addr', `127.0.0.1:${ports.globalXds}`] });
  relay = tcpRelay(ports.relay, ports.globalXds);
  await relay.open();
  await ctl(global, ['apply', '-f', '-'], `apiVersion: mesh.sluice.dev/v1alpha1\nkind: Mesh\nmetadata: { name: default }\nspec: { trustDomain: ${TD}, mtls: { mode: STRICT } }\n`);
  // The two zones enroll at once, as two sites would; each variable is set as its zone starts, so `after` stops whichever did.
  const [onpremToken, cloudToken] = [await mintZoneToken('onprem'), await mintZoneToken('cloud')];
  await allStarted([
    startZone('onprem', join(root, 'onprem'), ['--zone-token', onpremToken, '--xds-addr', `127.0.0.1:${ports.onpremXds}`]).then((cp) => (onprem = cp)),
    startZone('cloud', join(root, 'cloud'), ['--zone-token', cloudToken, '--ingress-address', '127.0.0.1:15443']).then((cp) => (cloud = cp)),
  ]);
  app = await startUpstream('web-1');
  // cloud runs web; onprem runs the caller, and until a zone ingress carries cross-zone
  // traffic, reaches cloud's instance by a Workload of its own at that address.
  await ctl(cloud, ['apply', '-f', '-'], [SERVICE, workload('web-1', 'app: web', ports.webInbound, 'web')].join('---\n'));
  await ctl(onprem, ['apply', '-f', '-'], [SERVICE, workload('web-cloud', 'app: web', ports.webInbound, 'web'), workload('caller-1', 'app: caller', null, 'caller')].join('---\n'));
  const webOutbound = await closedPort();
  await allStarted([joinProxy(cloud, 'web-1', ['--app', `http=${app.port}`, '--outbound-port', String(webOutbound)]), joinProxy(onprem, 'caller-1', ['--outbound-port', String(ports.outbound)])]);
});

after(async () => {
  await Promise.all(proxies.map((p) => p.stop()));
  await app?.close();
  await relay?.close();
  await Promise.all([onprem, cloud, global].filter((c) => c !== undefined).map((c) => c.stop()));
});

test('each zone enrolled: the global lists both online, with their versions, proxies and ingress', { timeout: 60_000 }, async () => {
  const g = await eventually('both zones online with their proxy', async () => {
    const z = await zones(global);
    return z.items.length === 2 && z.items.every((r) => r.status === 'online' && r.proxies === 1) ? z : undefined;
  });
  assert.equal(g.role, 'global');
  assert.deepEqual(g.items.map((r) => [r.name, r.ingress]), [['cloud', '127.0.0.1:15443'], ['onprem', null]]);
  const table = await ctl(global, ['get', 'zones']);
  assert.match(table, /^NAME\s+STATUS\s+LAST SYNC\s+VERSION\s+PROXIES\s+INGRESS/);
  assert.match(table, /\ncloud\s+online\s+\S+ ago\s+\d+\.\d+\.\d+\s+1\s+127\.0\.0\.1:15443/);
  // The same in the metrics: the global each zone's link, a zone its own link to the global.
  assert.deepEqual(await linkUp(global), { cloud: 1, onprem: 1 });
  assert.deepEqual(await eventually('onprem says its link is up', async () => ((await linkUp(onprem)).onprem === 1 ? linkUp(onprem) : undefined)), { onprem: 1 });
});

test("a proxy's SVID chains through its zone's intermediate to the global root, and mTLS works across the two zones' CAs", { timeout: 60_000 }, async () => {
  const globalRoot = new X509Certificate(readFileSync(join(root, 'global', 'ca', 'root.pem')));
  for (const [w, zone] of [['caller-1', 'onprem'], ['web-1', 'cloud']]) {
    const chain = readFileSync(join(root, w, 'cert.pem'), 'utf8').split(/(?<=-----END CERTIFICATE-----\n)/).filter((b) => b.trim() !== '');
    assert.equal(chain.length, 2, `${w}: leaf, then the zone intermediate`);
    const [leaf, intermediate] = chain.map((b) => new X509Certificate(b));
    assert.ok(leaf.verify(intermediate.publicKey), `${w}'s SVID is signed by the intermediate it carries`);
    assert.match(intermediate.subjectAltName ?? '', new RegExp(`URI:spiffe://${TD}/sluice/zone/${zone}`));
    assert.ok(intermediate.ca && intermediate.checkIssued(globalRoot) && intermediate.verify(globalRoot.publicKey), `${zone}'s intermediate is signed by the global root`);
  }
  const r = await served('the caller in onprem reaches web in cloud over mTLS');
  assert.match(r.headers['x-forwarded-client-cert'] ?? '', new RegExp(`URI=spiffe://${TD}/ns/default/sa/caller`));
});

test("each zone's Services reach the global and the other zone", { timeout: 60_000 }, async () => {
  const fromGlobal = await eventually("the global has both zones' web", async () => {
    const z = await zones(global);
    return z.items.every((r) => r.services === 1) ? z : undefined;
  });
  assert.equal(fromGlobal.items.length, 2);
  const seen = await eventually("onprem knows cloud's web and ingress", async () => {
    const z = await zones(onprem);
    const c = z.items.find((r) => r.name === 'cloud');
    return c?.services === 1 && c.ingress === '127.0.0.1:15443' ? z : undefined;
  });
  assert.deepEqual(seen.items.map((r) => [r.name, r.self === true]), [['onprem', true], ['cloud', false]]);
  // What the view is built from: kept for a restart, with cloud's web port, instance count and identity.
  type State = { zones: { summary: { zone: string; services: { name: string; ports: { port: number; instances: number; identities: string[] }[] }[] } }[] };
  const cloudWeb = (st: State) => st.zones.find((z) => z.summary.zone === 'cloud')?.summary.services.find((s) => s.name === 'web');
  const state = await eventually("onprem's kept state has cloud's web-1 connected", async () => {
    const st = JSON.parse(readFileSync(join(root, 'onprem', 'zone-state.json'), 'utf8')) as State;
    return cloudWeb(st)?.ports[0]?.instances === 1 ? st : undefined;
  });
  const web = cloudWeb(state)!;
  assert.deepEqual(web.ports.map((p) => [p.port, p.instances, p.identities]), [[80, 1, [`spiffe://${TD}/ns/default/sa/web`]]]);
  // At the global: onprem's web counts no healthy instance (its Workload there has no proxy connected).
  const g = JSON.parse(readFileSync(join(root, 'global', 'zones.json'), 'utf8')) as typeof state.zones;
  const onpremWeb = g.find((z) => z.summary.zone === 'onprem')!.summary.services.find((s) => s.name === 'web')!;
  assert.deepEqual(onpremWeb.ports.map((p) => [p.port, p.instances]), [[80, 0]]);
});

test('roles refuse at apply: a zone the mesh-wide kinds, the global Workloads, join tokens and Services', { timeout: 30_000 }, async () => {
  const route = 'apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: { name: web }\nspec: { parentRefs: [{ group: "", kind: Service, name: web, port: 80 }], rules: [{ backendRefs: [{ name: web, port: 80 }] }] }\n';
  assert.match(await ctlFails(onprem, ['apply', '-f', '-'], route), /HTTPRoute is mesh-wide: apply it on the global control plane; this control plane is zone onprem/);
  assert.match(await ctlFails(global, ['apply', '-f', '-'], workload('vm-1', 'app: x', null, 'x')), /Workloads belong to a zone: no proxy joins a global control plane/);
  assert.match(await ctlFails(global, ['token', 'create', '--workload', 'vm-1']), /JoinTokens belong to a zone/);
  assert.match(await ctlFails(onprem, ['zone', 'token', 'create', 'x']), /zone tokens are minted on the global control plane/);
  // A global refuses a Service: nothing would carry it to the zones.
  assert.match(await ctlFails(global, ['apply', '-f', '-'], SERVICE), /Services belong to the zones that run their instances/);
  // mTLS off would leave no call able to cross sites: the ingress routes by the caller's TLS SNI.
  const mesh = (mode: string) => `apiVersion: mesh.sluice.dev/v1alpha1\nkind: Mesh\nmetadata: { name: default }\nspec: { trustDomain: ${TD}, mtls: { mode: ${mode} } }\n`;
  assert.match(await ctlFails(global, ['apply', '-f', '-'], mesh('DISABLE')), /spec\.mtls\.mode: DISABLE cannot hold in a mesh of zones/);
  assert.match(await ctlFails(global, ['apply', '--dry-run=server', '-f', '-'], mesh('DISABLE')), /spec\.mtls\.mode/);
  await ctl(global, ['apply', '--dry-run=server', '-f', '-'], mesh('PERMISSIVE'));
});

test('the global killed: zones keep serving and issuing certificates, and show it offline; back, they link again', { timeout: 120_000 }, async () => {
  assert.equal(await global.stop('SIGKILL'), -1);
  const me = await eventually('onprem sees its link down', async () => {
    const z = await zones(onprem);
    return z.items[0].status === 'offline' ? z.items[0] : undefined;
  });
  assert.equal(me.name, 'onprem');
  assert.deepEqual(await linkUp(onprem), { onprem: 0 });
  await served('onprem still serves with the global gone');
  // A proxy joining now gets its certificate from onprem's intermediate alone.
  await ctl(onprem, ['apply', '-f', '-'], workload('caller-2', 'app: caller', null, 'caller'));
  await joinProxy(onprem, 'caller-2', ['--outbound-port', String(await closedPort())]);
  const leaf = new X509Certificate(readFileSync(join(root, 'caller-2', 'cert.pem')));
  assert.match(leaf.issuer, /zone onprem intermediate CA/);
  global = await startControlPlane({ dataDir: join(root, 'global'), args: ['--role', 'global', '--trust-domain', TD, '--xds-addr', `127.0.0.1:${ports.globalXds}`] });
  await eventually('both zones back online at the restarted global', async () => {
    const z = await zones(global);
    return z.items.length === 2 && z.items.every((r) => r.status === 'online') ? z : undefined;
  });
});

test('the link cut: the zone serves, restarted too; a route applied on the global meanwhile reaches it once the link returns', { timeout: 120_000 }, async (t) => {
  await relay.close();
  // Whatever fails below, the tests after this one find the link back.
  let reopened = false;
  t.after(async () => {
    if (!reopened) await relay.open();
  });
  await eventually('the global marks both zones offline', async () => {
    const z = await zones(global);
    return z.items.every((r) => r.status === 'offline') ? z : undefined;
  });
  const table = await ctl(global, ['get', 'zones']);
  assert.match(table, /\nonprem\s+offline/);
  const route = `apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: { name: web }\nspec: { parentRefs: [{ group: "", kind: Service, name: web, port: 80 }], rules: [{ filters: [{ type: RequestHeaderModifier, requestHeaderModifier: { set: [{ name: x-from-global, value: partition } ] } }], backendRefs: [{ name: web, port: 80 }] }] }\n`;
  await ctl(global, ['apply', '-f', '-'], route);
  await new Promise((r) => setTimeout(r, 1000));
  assert.equal((await sluicectl(['get', 'httproute', 'web'], { env: { SLUICE_SERVER: onprem.url, SLUICE_TOKEN_FILE: onprem.tokenFile } })).code, 1, 'cut off, onprem has not heard of the route');
  await served('onprem serves on its last config while cut off');
  // Restarted while cut off: it serves from its own store, and knows cloud from its last state.
  assert.equal(await onprem.stop(), 0, onprem.stderr());
  onprem = await startZone('onprem', join(root, 'onprem'), ['--xds-addr', `127.0.0.1:${ports.onpremXds}`]);
  // cloud's status is what the global last told onprem: the relay cuts both links at once, so
  // the global may have told onprem "cloud offline" just before onprem's own link went.
  const known = await zones(onprem);
  assert.deepEqual(known.items.map((r) => [r.name, r.services]), [['onprem', 1], ['cloud', 1]]);
  assert.equal(known.items[0].status, 'offline');
  await served('onprem, restarted cut off, serves its last config');
  const cut = await sluicectl(['check'], { env: { SLUICE_SERVER: onprem.url, SLUICE_TOKEN_FILE: onprem.tokenFile } });
  assert.equal(cut.code, 1, cut.stdout);
  assert.match(cut.stdout, /\[FAIL\] zones: the link to the global control plane is down: last heard from at/);
  await relay.open();
  reopened = true;
  await served("the route applied while cut off reaches onprem's proxies", (h) => h['x-from-global'] === 'partition');
  await eventually('the zones online again', async () => {
    const z = await zones(global);
    return z.items.every((r) => r.status === 'online') ? z : undefined;
  });
});

test('a zone gone is offline at the global and at the other zone', { timeout: 60_000 }, async () => {
  await cloud.stop();
  await eventually('cloud offline at the global', async () => ((await zones(global)).items.find((r) => r.name === 'cloud')?.status === 'offline' ? true : undefined));
  await eventually('cloud offline at onprem', async () => ((await zones(onprem)).items.find((r) => r.name === 'cloud')?.status === 'offline' ? true : undefined));
  const check = await sluicectl(['check'], { env: { SLUICE_SERVER: global.url, SLUICE_TOKEN_FILE: global.tokenFile } });
  assert.equal(check.code, 1, check.stdout);
  assert.match(check.stdout, /\[FAIL\] zones: zone cloud is offline: last heard from at/);
  assert.doesNotMatch(check.stdout, /zone onprem is offline/);
});

test('first contact refused: a used token, a token for another zone, a malformed one, none at all', { timeout: 120_000 }, async () => {
  const used = join(root, 'onprem-used.zone-token');
  writeFileSync(used, readFileSync(join(root, readdirToken('onprem')), 'utf8'));
  const refused = async (name: string, args: string[]) => {
    const r = await startZone(name, join(root, `refused-${name}-${Date.now()}`), args).then(
      (cp) => {
        void cp.stop();
        return assert.fail(`zone ${name} started with ${args.join(' ')}`);
      },
      (err: Error) => err.message,
    );
    return r;
  };
  assert.match(await refused('onprem', ['--zone-token', used]), /refused zone onprem \(TOKEN_USED\): zone token \w+ was already used/);
  const forCloud = await mintZoneToken('cloud');
  assert.match(await refused('onprem', ['--zone-token', forCloud]), /--zone-token \S+ is for zone cloud, but this control plane runs as --zone onprem/);
  // The file's zone line edited: the global holds the token bound to cloud.
  writeFileSync(forCloud, readFileSync(forCloud, 'utf8').replace('zone: cloud', 'zone: onprem'));
  assert.match(await refused('onprem', ['--zone-token', forCloud]), /\(TOKEN_WRONG_ZONE\): zone token \w+ is for zone cloud, but this control plane runs as zone onprem/);
  // Pointed at a zone instead of the global: its certificate chains to the same root and names the same ID, but a zone issued it.
  const impostor = await startControlPlane({ dataDir: join(root, `impostor-${Date.now()}`), args: ['--role', 'zone', '--zone', 'edge', '--global', onprem.xds, '--zone-token', await mintZoneToken('edge')] }).then(
    (cp) => {
      void cp.stop();
      return assert.fail('a zone enrolled with another zone as its global');
    },
    (err: Error) => err.message,
  );
  assert.match(impostor, /is not the global control plane of the token file's trust bundle: .*is a zone's control plane \(its certificate is issued by zone onprem intermediate CA\)/);
  const bad = join(root, 'bad.zone-token');
  writeFileSync(bad, 'token: nope\n');
  assert.match(await refused('edge', ['--zone-token', bad]), /no 'token: sluice-zt\.<id>\.<secret>' line/);
  assert.match(await refused('edge', []), /zone edge has no intermediate CA in \S+ yet: its first start needs --zone-token FILE/);
});

/** The token file onprem enrolled with (the first minted for it). */
function readdirToken(zone: string): string {
  const files = readdirSync(root).filter((f) => f.startsWith(`${zone}-`) && f.endsWith('.zone-token')).sort();
  return files[0];
}
